"""schemathesis against every service's OpenAPI: no 5xx, only documented statuses, responses that
match their schemas. A bounded number of examples per operation (SCHEMATHESIS_MAX_EXAMPLES, 8 by
default) keeps the whole run within a few minutes on two cores; each run draws new ones.

Calls carry an admin API key made by auth (a service token on `/internal` routes). Half of the
generated `account_id`s are replaced by the account the services know, so generated requests
also reach past the account check.
"""

from __future__ import annotations

import os
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err
from schemathesis.generation import GenerationMode

from tests.api.conftest import KNOWN_ACCOUNT, SERVICES, Served

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def credentials(svc: Served, path: str, admin_key: str) -> dict[str, str]:
    if path.startswith("/internal"):
        return svc.service_headers()
    return {"Authorization": f"Bearer {admin_key}"}


@pytest.mark.parametrize("service", SERVICES)
def test_the_openapi_holds_under_generated_requests(
    service: str, served: dict[str, Served], admin_key: str
) -> None:
    svc = served[service]
    schema = schemathesis.openapi.from_url(f"{svc.url}/openapi.json", headers=svc.headers("admin"))
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # a part of the schema schemathesis cannot read
            failures.append(f"invalid schema: {result.err()}")
            continue
        operation = result.ok()
        operations += 1
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, known=st.booleans())
        def check(case: Any, known: bool) -> None:
            if known and "account_id" in (case.path_parameters or {}):
                case.path_parameters["account_id"] = KNOWN_ACCOUNT
            case.call_and_validate(
                headers=credentials(svc, case.operation.path, admin_key), checks=CHECKS, timeout=60
            )

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups its failures
            failures.append(f"{operation.method.upper()} {operation.path}:\n{str(exc)[:3000]}")
    assert operations >= 5
    assert not failures, "\n\n".join(failures)
