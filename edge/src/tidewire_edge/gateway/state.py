"""What a gateway socket's recovery session keeps beyond platform mode's: its namespace, the
helpdesk user's profile and queues (later joins are decided with them), the rooms its server
joined at connect, and its counted joins. Kept in `Session.data["gateway"]`, so a recovered
socket (any node) is back in exactly its rooms, as ticketz's front end expects of a socket
that reports `recovered`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from tidewire_edge.gateway.families import Change, HelpdeskUser, Memberships


@dataclass(frozen=True)
class Connected:
    """A gateway handshake's outcome: who, the rooms joined at connect, token expiry."""

    user: HelpdeskUser
    rooms: tuple[str, ...]
    expires: float | None


class GatewayState(BaseModel):
    namespace: str = "/"
    profile: str | None = None
    super: bool = False
    queues: list[str] = []
    fixed: list[str] = []  # joined by the server at connect
    counts: dict[str, int] = {}  # joined by the client, counted

    @classmethod
    def of(cls, session: Any) -> GatewayState:
        """The state kept in a session (a platform session has the defaults: namespace `/`)."""
        raw = session.data.get("gateway") if session is not None else None
        return cls.model_validate(raw) if isinstance(raw, dict) else cls()

    @classmethod
    def connected(cls, namespace: str, how: Connected, kept: GatewayState | None) -> GatewayState:
        """The state of a socket that just connected: its client's joins kept when it
        recovered, the token's (or proxy's) view of the user fresh."""
        return cls(
            namespace=namespace,
            profile=how.user.profile,
            super=how.user.super,
            queues=list(how.user.queues),
            fixed=list(how.rooms),
            counts=dict(kept.counts) if kept is not None else {},
        )

    def user(self, company_id: str, user_id: str) -> HelpdeskUser:
        return HelpdeskUser(
            company_id=company_id,
            user_id=user_id,
            profile=self.profile,
            super=self.super,
            queues=tuple(self.queues),
        )

    def changed(self, change: Change, counted: bool) -> GatewayState:
        memberships = Memberships(dict(self.counts), counted=counted)
        memberships.apply(change)
        return self.model_copy(update={"counts": memberships.counts})

    def rooms(self) -> list[str]:
        """Every room the socket is in, in a stable order."""
        return list(dict.fromkeys([*self.fixed, *self.counts]))
