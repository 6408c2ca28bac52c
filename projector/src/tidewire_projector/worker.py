"""The faust worker the projector runs: faust's own, without its terminal spinner, running the
projector's start-up before the app's.

faust's spinner lowers the root logger to DEBUG so that it can turn on every log record. Then
every `log.debug` in aiokafka's fetch loop and faust's stream machinery builds a record and
runs the handlers — a few percent of the projector's CPU under load, for a spinner nobody
sees in a service's log file.

faust starts an app's own tasks only after its first partition assignment, which after an
unclean exit waits for the group to drop the dead member (up to its 60 s session timeout):
probes and stores opened there kept /healthz silent that long, and `tidewire up` gave up on
it. So they open in the worker's first start instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import faust


class _QuietWorker(faust.Worker):
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None  # faust checks `if self.spinner` everywhere it uses it
        super().on_setup_root_logger(logger, level)


def worker_class(early_start: Callable[[], Awaitable[None]]) -> type[faust.Worker]:
    """The worker class for `faust.App(Worker=...)`, awaiting `early_start` once, before the
    app starts."""

    class Worker(_QuietWorker):
        async def on_first_start(self) -> None:
            await super().on_first_start()
            await early_start()

    return Worker
