"""What the contract suites share: fresh ids, events, and companies that share a partition."""

from __future__ import annotations

import uuid

from tidewire_platform.contracts import Event
from tidewire_platform.partitioning import partition_for


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def neighbour(company_id: str, partitions: int) -> str:
    """Another company whose records share `company_id`'s partition (as most do in
    production: partitions are far fewer than companies)."""
    target = partition_for(company_id, partitions)
    while True:
        other = fresh("nb")
        if other != company_id and partition_for(other, partitions) == target:
            return other


def event(company_id: str, n: int, body: str = "") -> Event:
    return Event(
        id=f"{company_id}-e{n}",
        type="message.created",
        company_id=company_id,
        command_id=f"{company_id}-c{n}",
        occurred_at=n,
        accepted_at=n,
        payload={"message": {"body": body or f"m{n}"}},
    )
