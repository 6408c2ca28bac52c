"""`python -m tidewire_projector`: run a faust worker of the projector."""

from __future__ import annotations

import sys

from tidewire_platform.gc_tuning import keep_full_collections_rare
from tidewire_projector.app import app


def main() -> None:
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    keep_full_collections_rare()  # its memory of read models is long-lived (gc_tuning.py)
    app.main()


if __name__ == "__main__":
    main()
