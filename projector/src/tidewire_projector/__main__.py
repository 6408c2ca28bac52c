"""`python -m tidewire_projector`: run a faust worker of the projector."""

from __future__ import annotations

import sys

from tidewire_projector.app import app


def main() -> None:
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
