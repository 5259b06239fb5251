"""Bad requests get a clear 4xx in the shared error shape, never a 5xx: one test per class."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests.api.conftest import IMPORT_LIMIT, JSON_LIMIT, KNOWN_ACCOUNT, SERVICES, Served


def error_code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def call(
    svc: Served,
    method: str,
    path: str,
    role: str = "admin",
    headers: dict[str, str] | None = None,
    **kw: Any,
) -> Any:
    async with httpx.AsyncClient(base_url=svc.url, timeout=60) as http:
        return await http.request(
            method, path, headers={**svc.headers(role), **(headers or {})}, **kw
        )


# --- NUL characters ---------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
async def test_a_nul_in_a_path_or_query_is_a_422_on_every_service(
    service: str, served: dict[str, Served]
) -> None:
    svc = served[service]
    for path in ("/admin/dlq/a%00b", "/admin/dlq/x?limit=1%00", "/health/live?x=%00"):
        response = await call(svc, "GET", path)
        assert error_code(response) == (422, "validation_failed"), (path, response.text)
        assert response.json()["error"]["details"][0]["type"] == "nul_character"


async def test_a_nul_in_a_json_string_is_a_422_wherever_it_hides(
    served: dict[str, Served],
) -> None:
    cases = [
        (
            "catalog",
            "POST",
            "/screening/rules",
            {"kind": "brand", "pattern": "a\x00", "reason": "r"},
        ),
        (
            "catalog",
            "PUT",
            f"/accounts/{KNOWN_ACCOUNT}/selection",
            {"include": {"brands": ["\x00"]}},
        ),
        ("pricing", "PUT", f"/accounts/{KNOWN_ACCOUNT}/rules", {"rules": [], "note\x00": 1}),
        ("auth", "POST", "/accounts", {"alias": "shop\x00"}),
    ]
    for service, method, path, body in cases:
        response = await call(served[service], method, path, json=body)
        assert error_code(response) == (422, "validation_failed"), (path, response.text)
        assert response.json()["error"]["details"][0]["type"] == "nul_character"
    # Nothing was stored: the rule list is still empty.
    rules = await call(served["catalog"], "GET", "/screening/rules", params={"limit": 1000})
    assert rules.json()["next"] is None  # every rule is on this page
    assert all("\x00" not in r["pattern"] for r in rules.json()["items"])
    # A lone surrogate (which FastAPI's parser takes and no text column can store): 422 too,
    # and without a content type nothing parses it as JSON.
    surrogate = b'{"kind": "brand", "pattern": "\\ud800", "reason": "r"}'
    for headers in ({"Content-Type": "application/json"}, {}):
        response = await call(
            served["catalog"], "POST", "/screening/rules", content=surrogate, headers=headers
        )
        assert error_code(response) == (422, "validation_failed"), (headers, response.text)
    # An escaped backslash followed by "u0000" is ordinary text, not a NUL.

    ok = await call(
        served["catalog"],
        "POST",
        "/screening/rules",
        json={"kind": "keyword", "pattern": "\\u0000", "reason": "literal text"},
    )
    assert ok.status_code == 201, ok.text


# --- integers beyond the column --------------------------------------------------------------


async def test_integers_beyond_the_columns_range_are_a_422(served: dict[str, Served]) -> None:
    catalog = served["catalog"]
    for path in (
        "/screening/rules/4503599627370496",
        "/screening/rules/0",
        f"/imports/{uuid.uuid4()}/errors?after=30808072536",
        "/admin/dlq/catalog.orders?limit=99999999999999999999",
    ):
        method = "DELETE" if path.startswith("/screening") else "GET"
        response = await call(catalog, method, path)
        assert error_code(response) == (422, "validation_failed"), (path, response.text)
    # The largest id that fits is an ordinary miss.
    missing = await call(catalog, "DELETE", "/screening/rules/2147483647")
    assert error_code(missing) == (404, "not_found")


# --- unknown accounts -------------------------------------------------------------------------


async def test_an_unknown_account_is_a_404_on_reads_and_writes(served: dict[str, Served]) -> None:
    unknown = f"ghost-{uuid.uuid4().hex[:6]}"
    selection = {"include": {"brands": ["acme"]}}
    cases: list[tuple[str, str, str, Any]] = [
        ("catalog", "GET", f"/accounts/{unknown}/selection", None),
        ("catalog", "PUT", f"/accounts/{unknown}/selection", selection),
        ("catalog", "POST", f"/accounts/{unknown}/selection/preview", selection),
        ("catalog", "GET", f"/accounts/{unknown}/screened", None),
        (
            "catalog",
            "POST",
            f"/accounts/{unknown}/category-suggestions",
            {"supplier_category": "a"},
        ),
        ("catalog", "POST", f"/accounts/{unknown}/category-suggestions/unmapped", None),
        ("catalog", "POST", f"/accounts/{unknown}/coverage", None),
        ("catalog", "GET", f"/accounts/{unknown}/coverage", None),
        ("pricing", "GET", f"/accounts/{unknown}/rules", None),
        ("pricing", "PUT", f"/accounts/{unknown}/fx-rates", {"rates": []}),
        ("pricing", "PUT", f"/accounts/{unknown}/fee-table", {"rules": []}),
        ("pricing", "GET", f"/accounts/{unknown}/prices/SKU-1", None),
        ("offers", "GET", f"/accounts/{unknown}/readiness", None),
        ("offers", "POST", f"/accounts/{unknown}/readiness", {}),
        ("offers", "POST", f"/accounts/{unknown}/offers/retry", {}),
        ("offers", "POST", f"/accounts/{unknown}/publication/pause", None),
        ("auth", "GET", f"/accounts/{unknown}", None),
        ("auth", "POST", f"/accounts/{unknown}/reset", None),
    ]
    for service, method, path, body in cases:
        response = await call(served[service], method, path, json=body)
        assert error_code(response) == (404, "unknown_account"), (method, path, response.text)
    # The mapping check as an unknown account is refused before Allegro is asked.
    mapping = {"supplier_category": "a > b", "allegro_category_id": "1"}
    checked = await call(
        served["catalog"], "PUT", "/category-mappings", params={"check_as": unknown}, json=mapping
    )
    assert error_code(checked) == (404, "unknown_account")
    # A known account is served: nothing was written for the unknown ones.
    known = await call(served["catalog"], "GET", f"/accounts/{KNOWN_ACCOUNT}/selection")
    assert known.status_code == 200, known.text


# --- DLQ message ids --------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["catalog", "pricing"])
async def test_dlq_message_ids_that_are_not_uuids_are_a_422(
    service: str, served: dict[str, Served]
) -> None:
    svc = served[service]
    queue = f"{service}.catalog-updates" if service == "pricing" else "catalog.orders"
    inspect = await call(svc, "GET", f"/admin/dlq/{queue}/not-a-uuid")
    replay = await call(svc, "POST", f"/admin/dlq/{queue}/replay", json={"message_ids": ["x"]})
    purge = await call(svc, "POST", f"/admin/dlq/{queue}/purge", json={"message_ids": [1]})
    for response in (inspect, replay, purge):
        assert error_code(response) == (422, "validation_failed"), response.text
    # A UUID that is not there is an ordinary 404 / nothing replayed.
    missing = await call(svc, "GET", f"/admin/dlq/{queue}/{uuid.uuid4()}")
    assert error_code(missing) == (404, "not_found")
    none = await call(
        svc, "POST", f"/admin/dlq/{queue}/replay", json={"message_ids": [str(uuid.uuid4())]}
    )
    assert none.json() == {"replayed": 0}


# --- empty PUT bodies -------------------------------------------------------------------------


async def test_an_empty_put_resets_nothing(served: dict[str, Served]) -> None:
    catalog, pricing = served["catalog"], served["pricing"]
    base = f"/accounts/{KNOWN_ACCOUNT}"
    saved = await call(catalog, "PUT", f"{base}/selection", json={"include": {"brands": ["acme"]}})
    assert saved.status_code == 200, saved.text
    rules = {
        "strategy": "margin",
        "rules": [{"id": "all", "scope": "brand", "value": "acme", "percentage": "30"}],
    }
    put_rules = await call(pricing, "PUT", f"{base}/rules", json=rules)
    assert put_rules.status_code == 200, put_rules.text

    for svc, path in (
        (catalog, f"{base}/selection"),
        (pricing, f"{base}/rules"),
        (pricing, f"{base}/fee-table"),
    ):
        empty: tuple[dict[str, Any] | None, ...] = ({}, None)
        for body in empty:
            response = await call(svc, "PUT", path, json=body)
            assert response.status_code == 422, (path, body, response.text)
            assert response.json()["error"]["code"] in ("validation_failed", "required")
    selection = (await call(catalog, "GET", f"{base}/selection")).json()["selection"]
    assert selection["include"]["brands"] == ["acme"]
    current = (await call(pricing, "GET", f"{base}/rules")).json()
    assert current["rules"]["rules"][0]["percentage"] == "30", current


# --- body limits ------------------------------------------------------------------------------


async def raw_request(svc: Served, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send a request's head (and `body`), then read the answer: no more than that is sent, so
    the server reads all it was sent and its answer cannot be cut off by a reset."""
    address = urlsplit(svc.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(head.encode() + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def head(method: str, path: str, headers: dict[str, str]) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines) + "\r\n\r\n"


def chunked(total: int, size: int = 16 * 1024) -> bytes:
    """`total` bytes as chunks, without the terminating chunk: the body is still coming."""
    out = bytearray()
    while total > 0:
        n = min(size, total)
        out += f"{n:x}\r\n".encode() + b"x" * n + b"\r\n"
        total -= n
    return bytes(out)


async def imports_count(catalog: Served) -> int:
    return len((await call(catalog, "GET", "/imports")).json()["items"])


async def test_a_declared_body_beyond_the_limit_is_refused_before_anything_reads_it(
    served: dict[str, Served],
) -> None:
    catalog = served["catalog"]
    json_head = {"Content-Type": "application/json", "Content-Length": str(100 * 1024**2)}
    # Anonymous, to a JSON route: 413, not the 401 that would need the body parsed first.
    status, body = await raw_request(catalog, head("POST", "/screening/rules", json_head))
    assert status == 413 and b'"payload_too_large"' in body, body
    # An operator's import beyond the import limit: refused before the handler starts one.
    before = await imports_count(catalog)
    operator = {"Authorization": f"Bearer {catalog.token('operator')}"}
    status, body = await raw_request(
        catalog,
        head(
            "POST", "/imports?format=jsonl", {**operator, "Content-Length": str(IMPORT_LIMIT + 1)}
        ),
    )
    assert status == 413, body
    assert await imports_count(catalog) == before


async def test_a_streamed_body_is_counted_and_refused_past_the_limit(
    served: dict[str, Served],
) -> None:
    catalog = served["catalog"]
    operator = {"Authorization": f"Bearer {catalog.token('operator')}"}
    stream = {"Transfer-Encoding": "chunked"}
    status, body = await raw_request(
        catalog,
        head(
            "POST", "/screening/rules", {**operator, **stream, "Content-Type": "application/json"}
        ),
        chunked(JSON_LIMIT + 1),
    )
    assert status == 413 and b'"payload_too_large"' in body, body
    status, body = await raw_request(
        catalog,
        head("POST", "/imports?format=jsonl", {**operator, **stream}),
        chunked(IMPORT_LIMIT + 1),
    )
    assert status == 413 and b'"payload_too_large"' in body, body


async def test_imports_and_selections_take_more_than_other_routes(
    served: dict[str, Served],
) -> None:
    """A file between the JSON limit and the import limit is imported; as JSON it is refused;
    a selection naming thousands of SKUs has its own larger limit too."""
    catalog = served["catalog"]
    line = (
        '{"sku": "BIG-%05d", "title": "A product with a long enough title", "ean": null,'
        ' "updated_at": "2026-11-01T00:00:00Z"}\n'
    )
    body = "".join(line % i for i in range(1500)).encode()
    assert JSON_LIMIT < len(body) < IMPORT_LIMIT
    imported = await call(
        catalog, "POST", "/imports", role="operator", params={"format": "jsonl"}, content=body
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["rows"] == 1500
    as_json = await call(
        catalog,
        "PUT",
        "/category-mappings",
        content=body,
        role="operator",
        headers={"Content-Type": "application/json"},
    )
    assert error_code(as_json) == (413, "payload_too_large")
    skus = [f"SKU-{i:06d}-with-a-long-supplier-code" for i in range(5000)]
    selection = {"include": {"skus": skus}, "exclude": {}}
    assert len(orjson.dumps(selection)) > JSON_LIMIT
    previewed = await call(
        catalog, "POST", f"/accounts/{KNOWN_ACCOUNT}/selection/preview", json=selection
    )
    assert previewed.status_code == 200, previewed.text


async def test_patch_changes_one_part_of_the_selection_and_an_empty_one_nothing(
    served: dict[str, Served],
) -> None:
    catalog = served["catalog"]
    path = f"/accounts/{KNOWN_ACCOUNT}/selection"
    saved = await call(catalog, "PUT", path, json={"include": {"brands": ["acme"]}})
    assert saved.status_code == 200, saved.text
    patched = await call(catalog, "PATCH", path, json={"exclude": {"skus": ["SKU-9"]}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["selection"]["include"]["brands"] == ["acme"]
    assert patched.json()["selection"]["exclude"]["skus"] == ["SKU-9"]
    empty = await call(catalog, "PATCH", path, json={})
    assert error_code(empty) == (422, "validation_failed")
    unknown = await call(catalog, "PATCH", "/accounts/ghost/selection", json={"include": {}})
    assert error_code(unknown) == (404, "unknown_account")
    kept = (await call(catalog, "GET", path)).json()["selection"]
    assert kept == patched.json()["selection"]
