"""Every route of every service refuses who may not call it: walked from each OpenAPI.

The role a route requires is read from the route itself (`x-required-role`, which the shared
layer derives from its `require_role` dependency); the under-privileged caller is the highest
role ranked below it. A route without a role must be in PUBLIC, so a new route cannot forget
its guard silently.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import orjson
import pytest

from shared.security import ROLE_RANK, SERVICE_ROLE, issue_service_token, issue_token
from tests.api.conftest import SERVICES, Served

# Routes open to anyone, each with the reason.
PUBLIC = {
    ("auth", "GET", "/accounts/oauth/callback"),  # Allegro redirects the seller here: `state`
}
METHODS = ("get", "post", "put", "patch", "delete")
UNKNOWN_ACCOUNT = "no-such-shop"  # an account check must not run before the role check


def path_for(template: str, operation: dict[str, Any]) -> str:
    path = template
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "path":
            continue
        schema = parameter.get("schema", {})
        if schema.get("format") == "uuid":
            value = str(uuid.uuid4())
        elif schema.get("type") == "integer":
            value = "1"
        elif parameter["name"] == "account_id":
            value = UNKNOWN_ACCOUNT
        else:
            value = "x"
        path = path.replace("{" + parameter["name"] + "}", value)
    return path


def under_privileged(required: str) -> str | None:
    below = [r for r in ROLE_RANK if ROLE_RANK[r] < ROLE_RANK[required]]
    return max(below, key=lambda r: ROLE_RANK[r]) if below else None


def forged(role: str) -> str:
    """A well-formed token claiming `role`, signed with a key nobody configured."""
    return issue_token("not-the-platform-secret", "intruder", role)  # type: ignore[arg-type]


def expired(svc: Served) -> str:
    return issue_token(svc.secret, "late", "admin", ttl_seconds=-60)


def garbage_credentials(svc: Served) -> list[str]:
    claims = base64.urlsafe_b64encode(orjson.dumps({"sub": "x", "role": "admin"})).decode()
    unknown_key = "mcik_" + uuid.uuid4().hex[:8] + "_" + "s" * 40  # auth has no such key
    return [
        "garbage",
        "mci1.x.y",
        f"mci1.{claims}.bad",
        forged("admin"),
        expired(svc),
        unknown_key,
    ]


@pytest.mark.parametrize("service", SERVICES)
async def test_every_route_refuses_anonymous_garbage_and_underprivileged_callers(
    service: str, served: dict[str, Served]
) -> None:
    svc = served[service]
    async with httpx.AsyncClient(base_url=svc.url, timeout=30) as http:
        spec = (await http.get("/openapi.json", headers=svc.headers("admin"))).json()
        checked = 0
        problems: list[str] = []
        for template, item in spec["paths"].items():
            for method in METHODS:
                operation = item.get(method)
                if operation is None or template.startswith("/health"):
                    continue
                route = f"{method.upper()} {template}"
                required = operation.get("x-required-role")
                if required is None:
                    if (service, method.upper(), template) not in PUBLIC:
                        problems.append(f"{route}: no role required and not listed as public")
                    continue
                assert required in (*ROLE_RANK, SERVICE_ROLE), f"{route}: unknown role {required}"
                documented = operation.get("responses", {})
                for status in ("401", "403"):
                    if status not in documented:
                        problems.append(f"{route}: {status} not documented")
                url = path_for(template, operation)
                attempts: list[tuple[str, dict[str, str], int]] = [("anonymous", {}, 401)]
                attempts += [
                    (f"garbage {c[:12]}", {"Authorization": f"Bearer {c}"}, 401)
                    for c in garbage_credentials(svc)
                ]
                if required == SERVICE_ROLE:
                    # No operator role reaches an internal route, nor a service not listed.
                    intruder = issue_service_token(svc.secret, "intruder")
                    attempts.append(("admin", svc.headers("admin"), 403))
                    attempts.append(("intruder", {"Authorization": f"Bearer {intruder}"}, 403))
                else:
                    lower = under_privileged(required)
                    if lower is not None:
                        attempts.append((lower, svc.headers(lower), 403))
                for who, headers, expected in attempts:
                    response = await http.request(method.upper(), url, headers=headers)
                    body = response.json() if response.content else {}
                    if response.status_code != expected or "error" not in body:
                        problems.append(
                            f"{route} as {who}: {response.status_code} {response.text[:200]}"
                        )
                checked += 1
        assert not problems, "\n".join(problems)
        # The walk reached the service's own routes, not only the shared DLQ admin ones.
        assert checked >= (6 if service in ("auth", "catalog", "pricing") else 5), checked
