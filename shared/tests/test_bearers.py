"""Bearer credentials on a service other than auth: bad ones are 401, an unreachable auth 503,
and service tokens are a kind apart from operator credentials."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from mci_testing.app import running_app
from mci_testing.ledger import MIGRATIONS
from shared.security import (
    SERVICE_PREFIX,
    InvalidToken,
    PrincipalResolver,
    _b64,
    _seal,
    _sign,
    issue_service_token,
    issue_token,
    verify_token,
)
from shared.service import ServiceDefinition, create_app
from shared.settings import ServiceSettings

SECRET = "k" + "0123456789abcdef" * 3


def a_service(
    ledger_db: str, amqp_url: str, resolver: PrincipalResolver | None = None, **settings: Any
) -> FastAPI:
    """A service that is not auth (the ledger test service), with the platform's defaults."""
    return create_app(
        ServiceDefinition(
            settings=ServiceSettings(
                database_url=ledger_db, amqp_url=amqp_url, run_migrations=False, **settings
            ),
            migrations_dir=MIGRATIONS,
            principal_resolver=resolver,
        )
    )


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections into its backlog and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


async def test_a_non_ascii_bearer_is_401_not_500(ledger_db: str, amqp_url: str) -> None:
    async with running_app(a_service(ledger_db, amqp_url)) as http:
        for credential in ("mci1.é.x", "mcisvc1.é.x", "mcik_é_x", "é", "mci1.e30.é"):
            for raw in (credential.encode(), credential.encode("latin-1", "replace")):
                response = await http.get(
                    "/admin/dlq", headers={b"authorization": b"Bearer " + raw}
                )
                assert response.status_code == 401, (raw, response.text)
                assert response.json()["error"]["code"] == "invalid_token"
                assert response.headers["www-authenticate"] == "Bearer"


def _signed(secret: str, body: str) -> str:
    return f"mci1.{body}.{_sign(secret, 'mci1', body)}"


async def test_malformed_signed_tokens_are_401(ledger_db: str, amqp_url: str) -> None:
    secret = ServiceSettings().service_token_secret.get_secret_value()
    garbage = ["mci1.a.b.c", "mci1..", "mcisvc1.x.y", _signed(secret, "!!!"), _signed(secret, "")]
    # Signed correctly, but claims that are no object, or lack what they need.
    for claims in (
        [1, 2],
        {"sub": "x", "role": "admin"},
        {"sub": 1, "role": "admin", "exp": 2**40},
    ):
        garbage.append(_signed(secret, _b64(orjson.dumps(claims))))
    async with running_app(a_service(ledger_db, amqp_url)) as http:
        for token in garbage:
            response = await http.get("/admin/dlq", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (token, response.text)
            assert response.json()["error"]["code"] == "invalid_token"


async def _auth_down(app: FastAPI, resolver: PrincipalResolver | None = None) -> None:
    async with running_app(app) as http:
        key = {"Authorization": "Bearer mcik_someid_" + "x1y2z3" * 8}
        for _ in range(2):  # and not cached: the second request asks again
            response = await http.get("/admin/dlq", headers=key)
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "auth_unavailable"
            assert int(response.headers["retry-after"]) > 0
        # Signed tokens need no call to auth: they still work while auth is down.
        token = issue_token(app.state.principal_resolver.secret, "ops", "admin")
        assert (
            await http.get("/admin/dlq", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200


async def test_auth_refusing_connections_is_503_with_retry_after(
    ledger_db: str, amqp_url: str, free_port: int
) -> None:
    await _auth_down(a_service(ledger_db, amqp_url, auth_url=f"http://127.0.0.1:{free_port}"))


async def test_auth_not_answering_in_time_is_503_with_retry_after(
    ledger_db: str, amqp_url: str, silent_port: int
) -> None:
    resolver = PrincipalResolver(
        ServiceSettings().service_token_secret.get_secret_value(),
        f"http://127.0.0.1:{silent_port}",
        "orders",
        timeout_seconds=0.5,
    )
    await _auth_down(a_service(ledger_db, amqp_url, resolver))


@pytest.fixture
def failing_auth() -> httpx.ASGITransport:
    """An auth whose introspection fails with a 500 (its database is down, say)."""
    broken = FastAPI()

    @broken.post("/internal/api-keys/introspect")
    async def introspect() -> JSONResponse:
        return JSONResponse({"error": {"code": "internal"}}, status_code=500)

    return httpx.ASGITransport(app=broken)


async def test_auth_answering_5xx_is_503_with_retry_after(
    ledger_db: str, amqp_url: str, failing_auth: httpx.ASGITransport
) -> None:
    resolver = PrincipalResolver(
        ServiceSettings().service_token_secret.get_secret_value(),
        "http://auth",
        "orders",
        cache_seconds=60,
        transport=failing_auth,
    )
    await _auth_down(a_service(ledger_db, amqp_url, resolver))


def test_service_tokens_name_their_service_and_are_short_lived() -> None:
    principal = verify_token(SECRET, issue_service_token(SECRET, "offers", 60))
    assert (principal.subject, principal.role, principal.is_service) == ("offers", "service", True)
    with pytest.raises(ValueError, match="a service token lives"):
        issue_service_token(SECRET, "offers", 3600)
    now = int(time.time())
    long_lived = _seal(SECRET, SERVICE_PREFIX, {"svc": "offers", "iat": now, "exp": now + 3600})
    with pytest.raises(InvalidToken, match="at most"):
        verify_token(SECRET, long_lived)
    from_the_future = _seal(
        SECRET, SERVICE_PREFIX, {"svc": "offers", "iat": now + 3600, "exp": now + 3700}
    )
    with pytest.raises(InvalidToken, match="future"):
        verify_token(SECRET, from_the_future)


def test_an_operator_token_never_passes_as_a_service_token_nor_the_reverse() -> None:
    with pytest.raises(ValueError, match="not an operator role"):
        issue_token(SECRET, "offers", "service")  # type: ignore[arg-type]
    # An operator token claiming the service role is refused...
    forged = _seal(SECRET, "mci1", {"sub": "offers", "role": "service", "exp": 2**40})
    with pytest.raises(InvalidToken, match="unknown role"):
        verify_token(SECRET, forged)
    # ... and its body under the service prefix does not verify: the prefix is signed.
    _, body, signature = issue_token(SECRET, "ops", "admin").split(".")
    with pytest.raises(InvalidToken, match="bad signature"):
        verify_token(SECRET, f"{SERVICE_PREFIX}.{body}.{signature}")


async def test_a_service_token_is_no_operator_credential(ledger_db: str, amqp_url: str) -> None:
    async with running_app(a_service(ledger_db, amqp_url)) as http:
        secret = ServiceSettings().service_token_secret.get_secret_value()
        token = issue_service_token(secret, "offers")
        response = await http.get("/admin/dlq", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
