"""`python -m tidewire_ingest --port 8000`: serve the ingest API."""

from tidewire_ingest.app import create_server
from tidewire_platform.gc_tuning import keep_full_collections_rare
from tidewire_platform.metrics import expose_known
from tidewire_platform.serve import serve

if __name__ == "__main__":
    expose_known("ingest")  # alerts see the first 503 (metrics.KNOWN_LABELS)
    server = create_server()
    keep_full_collections_rare()  # start-up's objects out of every collection (gc_tuning.py)
    serve(server, "tidewire_ingest", 8000)
