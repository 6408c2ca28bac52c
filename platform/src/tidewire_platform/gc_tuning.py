"""Garbage-collector settings for processes that hold many long-lived objects.

CPython runs a full collection every 10 collections of the middle generation (once enough
survivors piled up), and a full one walks every tracked object. Two services hold hundreds of
thousands of them for as long as they run: an edge node (~200 per socket) and the projector
(its memory of read models, up to 200,000 documents). Measured on the 2-core box:
- edge: a thousand clients connecting at once set off full collections of 70–200 ms, several
  in a row, each a stall of every delivery;
- projector: a third of its CPU went into collections once its memory was full, CPU per
  command climbing from 0.80 to 1.17 ms over four runs of `tidewire bench projector`
  (0.72–0.85 ms with full collections 100 times rarer).
The ingest holds few objects of its own, but everything it imported and built at start-up
(FastAPI's app and schemas, pydantic's validators, the drivers) is walked by every full
collection: at 3,000 webhooks/s its p99 went from 27–38 ms to 12–28 ms with this (A/B, three
runs each).
"""

from __future__ import annotations

import gc


def keep_full_collections_rare() -> None:
    """Freeze what exists now (it lives as long as the process) out of every collection, and
    run a full collection only after 1,000 middle-generation ones instead of 10. Reference
    counting still frees everything that is not in a cycle at once."""
    gc.collect()
    gc.freeze()
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, 1_000)
