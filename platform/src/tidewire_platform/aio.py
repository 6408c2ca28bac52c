"""Bridges from the Cassandra driver's callback futures to asyncio."""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import ResponseFuture, Session


async def execute(
    session: Session, statement: Any, params: Any = None, paging_state: bytes | None = None
) -> Any:
    """Run a statement without blocking the event loop; returns the driver's result set
    (its first page when the statement has a fetch size; resume with `paging_state`)."""
    return await submit(session, statement, params, paging_state)


def submit(
    session: Session, statement: Any, params: Any = None, paging_state: bytes | None = None
) -> asyncio.Future[Any]:
    """`execute` as a plain future: sent at once, and `asyncio.gather` over many of them
    makes no task per request (a visible cost when a batch sends hundreds)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()
    rf: ResponseFuture = session.execute_async(statement, params, paging_state=paging_state)

    def _ok(rows: Any) -> None:
        loop.call_soon_threadsafe(_settle, done, rf, None)

    def _err(exc: BaseException) -> None:
        loop.call_soon_threadsafe(_settle, done, None, exc)

    rf.add_callbacks(_ok, _err)
    return done


def _settle(fut: asyncio.Future[Any], rf: ResponseFuture | None, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        assert rf is not None
        # result() on a finished future returns the full first page without blocking.
        fut.set_result(rf.result())
