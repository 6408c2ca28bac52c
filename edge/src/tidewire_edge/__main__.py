"""`python -m tidewire_edge --port 8101`: serve one edge node."""

from tidewire_edge.server import create_edge
from tidewire_platform.serve import serve

if __name__ == "__main__":
    serve(create_edge(), "tidewire_edge", 8101)
