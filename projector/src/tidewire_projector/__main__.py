"""`python -m tidewire_projector [--host H --port N]`: run a faust worker of the projector,
with /healthz, /readyz and /metrics on port N when given."""

from __future__ import annotations

import sys

from tidewire_platform.gc_tuning import keep_full_collections_rare
from tidewire_platform.metrics import expose_known
from tidewire_platform.probes import parse_address
from tidewire_platform.settings import StackSettings
from tidewire_projector.app import create_app


def main() -> None:
    app = create_app(StackSettings(), parse_address(sys.argv[1:]))
    expose_known("projector")  # alerts see the first dead letter (metrics.KNOWN_LABELS)
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    keep_full_collections_rare()  # its memory of read models is long-lived (gc_tuning.py)
    app.main()


if __name__ == "__main__":
    main()
