"""Schemathesis against the OpenAPI document of the running ingest: requests generated from
it, valid and invalid, to every operation, with a valid agent token, get no 5xx, and every
answer is one the document declares (status, content type, headers, body schema).

Bounded (`_EXAMPLES` cases per operation and mode, derandomised so a run is reproducible) to
stay well under two minutes. The webhook is fuzzed too: its generated bodies are not signed,
so they exercise its refusals. Driven through Hypothesis directly: schemathesis' own pytest
integration reads a private attribute pytest 9.2 no longer has."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.stack import Services

_EXAMPLES = 25
_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> list[str]:
    """Every failure of `_EXAMPLES` generated cases of one operation (all of them, not the
    first: the report should show each kind of mistake at once)."""
    failures: list[str] = []

    @settings(
        max_examples=_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def run(case: schemathesis.Case) -> None:
        try:
            case.call_and_validate(headers=headers, checks=_CHECKS, timeout=30)
        except (Exception, FailureGroup) as exc:  # FailureGroup: every check that failed
            failures.append(f"{operation.label} ({mode}): {exc}\n  {case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:  # nothing invalid to send (an operation without parameters)
        assert mode == GenerationMode.NEGATIVE, operation.label
    return failures


@pytest.mark.timeout(300)
def test_no_5xx_and_every_answer_as_documented(services: Services, agent_token: str) -> None:
    schema = schemathesis.openapi.from_url(f"{services.ingest_url}/openapi.json")
    headers = {"Authorization": f"Bearer {agent_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # the document was read, not an empty one
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for failure in _fuzz(operation, mode, headers)
    ]
    assert not failures, f"{len(failures)} failing cases:\n" + "\n".join(failures[:20])
