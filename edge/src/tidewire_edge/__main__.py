"""`python -m tidewire_edge --port 8101`: serve one edge node."""

from tidewire_edge.app import create_edge
from tidewire_platform.metrics import expose_known
from tidewire_platform.serve import serve

if __name__ == "__main__":
    expose_known("edge")  # alerts see the first expired recovery (metrics.KNOWN_LABELS)
    # No permessage-deflate, as socket.io's own server defaults since v3: compressing every
    # small JSON frame costs more CPU per delivery than the bytes it saves on a LAN. Named
    # rather than left to uvicorn's "auto": live events' frames are written straight to this
    # implementation's connections (ws_frames.py).
    serve(
        create_edge(),
        "tidewire_edge",
        8101,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
    )
