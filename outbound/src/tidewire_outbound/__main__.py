"""`python -m tidewire_outbound [--host H --port N]`: the outbound sender in the foreground,
with /healthz, /readyz and /metrics on port N when given."""

from __future__ import annotations

import asyncio
import logging
import sys

from tidewire_outbound.process import run
from tidewire_platform.metrics import expose_known
from tidewire_platform.probes import parse_address
from tidewire_platform.settings import StackSettings


def main() -> None:
    address = parse_address(sys.argv[1:], prog="tidewire_outbound")
    expose_known("outbound")  # alerts see the first unknown send (metrics.KNOWN_LABELS)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(run(StackSettings(), address))


if __name__ == "__main__":
    main()
