"""Gateway mode's publish API: an existing helpdesk backend hands tidewire the emits it used
to make itself (`platform/.../publications.py` says what a publication is).

Durability is the commands' rule: 202 only once Kafka has every publication of the request
(in order), 503 with nothing acknowledged otherwise; a retry of the same ids is delivered
once. A publisher token names the one company it may publish for, or none (every company).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from tidewire_ingest.accept import accept
from tidewire_ingest.deps import Commands, IngestConf, PublisherOf
from tidewire_ingest.problems import COMMON, Problem, documented
from tidewire_platform.contracts import Command
from tidewire_platform.publications import PUBLICATION, Publication

router = APIRouter(prefix="/api", tags=["publish"], responses=COMMON)


class Publications(BaseModel):
    """Several publications, appended in this order (per company)."""

    model_config = ConfigDict(extra="forbid")

    publications: list[Publication] = Field(min_length=1)


def _shape(body: Any) -> str:
    return "batch" if isinstance(body, dict) and "publications" in body else "one"


PublishBody = Annotated[
    Annotated[Publications, Tag("batch")] | Annotated[Publication, Tag("one")],
    Discriminator(_shape),
    Body(description='one publication, or `{"publications": [...]}`'),
]


class Published(BaseModel):
    accepted: int = Field(description="publications durable in the log (all of the request)")
    ids: list[str] = Field(description="their idempotency keys, in order")


@router.post(
    "/publish",
    status_code=202,
    response_model=Published,
    responses=documented(
        r403="the publisher token is scoped to another company",
        r413="a publication's data is larger than the limit",
        r503="Kafka did not answer: nothing acknowledged, retry (Retry-After)",
    ),
)
async def publish(
    body: PublishBody, publisher: PublisherOf, log: Commands, conf: IngestConf
) -> Published:
    """Publish helpdesk events to its sockets, durably and in order."""
    items = body.publications if isinstance(body, Publications) else [body]
    if len(items) > conf.max_publications:
        raise Problem(
            413,
            "Too many publications",
            f"{len(items)} publications in one request; at most {conf.max_publications}",
        )
    seen: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        first = seen.setdefault((item.company_id, item.id), index)
        if first != index:
            # The second would be dropped as a retry of the first: say so rather than
            # answering that both were accepted.
            raise Problem(
                422,
                "Duplicate publication id",
                f"publications[{index}] repeats the id of publications[{first}] ({item.id!r})",
            )
    commands = []
    for index, item in enumerate(items):
        if not publisher.may_publish_for(item.company_id):
            raise Problem(
                403,
                "Forbidden",
                f"publications[{index}]: this publisher may publish only for company "
                f"{publisher.company_id!r}, not {item.company_id!r}",
            )
        size = len(item.model_dump_json(by_alias=True).encode())
        if size > conf.max_publication_bytes:
            raise Problem(
                413,
                "Publication too large",
                f"publications[{index}] is {size} bytes encoded; at most "
                f"{conf.max_publication_bytes} (TIDEWIRE_INGEST_MAX_PUBLICATION_BYTES)",
            )
        commands.append(
            Command(
                id=item.command_id(),
                type=PUBLICATION,
                company_id=item.company_id,
                payload=item.payload(),
            )
        )
    await accept(log, commands)
    return Published(accepted=len(commands), ids=[item.id for item in items])
