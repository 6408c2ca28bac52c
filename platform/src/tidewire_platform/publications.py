"""Gateway mode's wire contract: what an existing helpdesk backend publishes.

A publication is one Socket.IO emit the backend used to make itself (`io.to(room).emit(event,
data)`), handed to tidewire instead. It travels as a `publication` command (so the projector's
journal makes its `id` idempotent and the company's partition keeps its order) and comes out as
a `publication` event on the events log, which gives it a cursor, recovery, `lastEventId`,
acks and `/api/events` like every event. The edge emits `event` with `data` exactly as
published.

Rooms are the helpdesk's own names (`"123"`, `"company-42-open"`); the edge keeps them apart
per company, so a publication of one company never reaches a socket of another whatever its
room names say.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tidewire_platform.contracts import ID_PATTERN, stable_id

PUBLICATION = "publication"  # the command type and the event type

# A namespace as Socket.IO names them: "/" or "/<word>" (plus's `/<companyId>`, forks'
# `/workspace-<companyId>`).
NAMESPACE_PATTERN = r"^/[A-Za-z0-9._:-]{0,64}$"
# Room and event names: any printable text without control characters, bounded.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"
MAX_ROOMS = 64  # rooms (and excepted rooms) of one publication

Name = Annotated[str, Field(pattern=NAME_PATTERN)]


# Names a Socket.IO server refuses to emit, and tidewire's own protocol events.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


class Publication(BaseModel):
    """One emit: `data` to the sockets of `company_id` in `namespace` that are in any of
    `rooms` (every socket of the company in the namespace when empty) and in none of
    `except_rooms`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(
        pattern=ID_PATTERN,
        description="idempotency key: a publication with an id already published is "
        "delivered once (within the events retention)",
    )
    company_id: str = Field(pattern=ID_PATTERN)
    namespace: str = Field("/", pattern=NAMESPACE_PATTERN)
    rooms: list[Name] = Field(default_factory=list, max_length=MAX_ROOMS)
    except_rooms: list[Name] = Field(default_factory=list, max_length=MAX_ROOMS, alias="except")
    event: str = Field(pattern=NAME_PATTERN)
    data: Any = None

    @field_validator("event")
    @classmethod
    def _not_reserved(cls, event: str) -> str:
        if event in RESERVED_EVENTS or event.startswith("tidewire:"):
            raise ValueError(f"{event!r} is a reserved event name")
        return event

    def command_id(self) -> str:
        """The command id its idempotency key maps to, scoped to the company."""
        return stable_id(self.company_id, PUBLICATION, self.id)

    def payload(self) -> dict[str, Any]:
        """The command's (and the event's) payload."""
        return {
            "publication_id": self.id,
            "namespace": self.namespace,
            "rooms": self.rooms,
            "except": self.except_rooms,
            "event": self.event,
            "data": self.data,
        }
