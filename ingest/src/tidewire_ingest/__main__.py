"""`python -m tidewire_ingest --port 8000`: serve the ingest API."""

from tidewire_ingest.app import create_server
from tidewire_platform.serve import serve

if __name__ == "__main__":
    serve(create_server(), "tidewire_ingest", 8000)
