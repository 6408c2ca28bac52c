"""The faust worker the projector runs: faust's own, without its terminal spinner.

faust's spinner lowers the root logger to DEBUG so that it can turn on every log record. Then
every `log.debug` in aiokafka's fetch loop and faust's stream machinery builds a record and
runs the handlers — a few percent of the projector's CPU under load, for a spinner nobody
sees in a service's log file.
"""

from __future__ import annotations

import logging

import faust


class Worker(faust.Worker):
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None  # faust checks `if self.spinner` everywhere it uses it
        super().on_setup_root_logger(logger, level)
