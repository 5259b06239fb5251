"""The console's server without a browser: its pages, and the proxy's contract (what it
forwards, what it keeps, what it refuses), against a recording stand-in for the services."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mci_console.app import create_app
from mci_console.settings import ConsoleSettings

from .conftest import chromium_executable

SETTINGS = ConsoleSettings(
    auth_url="http://auth.test",
    catalog_url="http://catalog.test/",
    pricing_url="http://pricing.test",
    offers_url="http://offers.test",
    orders_url="http://orders.test",
    bigbuy_url="http://bigbuy.test",
    oauth_redirect_uri="http://console.test/oauth/callback",
)


class Streamed(httpx.AsyncByteStream):
    """A body that arrives as a stream, as from a real service (bytes given to
    httpx.Response are read at once, and a stream can be read only once)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(await request.aread())
        if request.url.host == "offers.test":
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/forbidden":
            error = {"error": {"code": "forbidden", "message": "requires the admin role"}}
            return httpx.Response(
                403,
                stream=Streamed(json.dumps(error).encode()),
                headers={
                    "Content-Type": "application/json",
                    "WWW-Authenticate": "Bearer",
                    "Set-Cookie": "x=1",
                },
            )
        return httpx.Response(
            200,
            stream=Streamed(b"line,sku\n3,X\n"),
            headers={
                "Content-Type": "text/csv",
                "Content-Disposition": "attachment; filename=e.csv",
                "Set-Cookie": "session=1",
            },
        )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    """The console app in process (its lifespan run), its services the recorder."""
    app = create_app(SETTINGS, transport=httpx.MockTransport(recorder))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://console.test"
        ) as http,
    ):
        yield http


async def test_forwards_method_path_query_body_and_the_bearer_only(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    answer = await client.post(
        "/api/catalog/imports?format=jsonl&currency=EUR",
        content=b'{"sku": "A"}\n',
        headers={
            "Authorization": "Bearer mcik_k_s",
            "Content-Type": "application/octet-stream",
            "Cookie": "other=1",
            "X-Forwarded-For": "1.2.3.4",
        },
    )
    assert answer.status_code == 200
    assert answer.content == b"line,sku\n3,X\n"
    assert answer.headers["content-type"] == "text/csv"
    assert answer.headers["content-disposition"] == "attachment; filename=e.csv"
    assert "set-cookie" not in answer.headers
    assert answer.headers["cache-control"] == "no-store"
    sent = recorder.requests[0]
    assert sent.method == "POST"
    assert str(sent.url) == "http://catalog.test/imports?format=jsonl&currency=EUR"
    assert recorder.bodies[0] == b'{"sku": "A"}\n'
    assert sent.headers["authorization"] == "Bearer mcik_k_s"
    assert sent.headers["content-type"] == "application/octet-stream"
    assert "cookie" not in sent.headers
    assert "x-forwarded-for" not in sent.headers


async def test_a_get_is_sent_without_a_body(client: httpx.AsyncClient, recorder: Recorder) -> None:
    assert (await client.get("/api/orders/orders", params={"limit": "5"})).status_code == 200
    sent = recorder.requests[0]
    assert str(sent.url) == "http://orders.test/orders?limit=5"
    assert "authorization" not in sent.headers  # none came: the service will say 401
    assert "transfer-encoding" not in sent.headers
    assert recorder.bodies[0] == b""


async def test_the_service_answer_passes_through_unchanged(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    answer = await client.delete(
        "/api/auth/forbidden", headers={"Authorization": "Bearer mcik_v_s"}
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert answer.headers["www-authenticate"] == "Bearer"
    assert recorder.requests[0].method == "DELETE"


async def test_refuses_unknown_services_and_internal_routes_without_calling_anything(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    unknown = await client.get("/api/billing/things")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_service"
    internal = await client.get("/api/auth/internal/accounts/a/access-token")
    assert internal.status_code == 404
    assert internal.json()["error"]["code"] == "not_proxied"
    assert recorder.requests == []


async def test_a_service_that_cannot_be_reached_is_a_502_in_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/api/offers/admin/dlq", headers={"Authorization": "Bearer k"})
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["code"] == "service_unreachable"
    assert "offers" in error["message"]
    assert error["details"] == [{"service": "offers"}]


async def test_pages_config_and_security_headers(client: httpx.AsyncClient) -> None:
    index = await client.get("/")
    assert index.status_code == 200
    assert '<script type="module" src="/static/main.js"' in index.text
    csp = index.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert index.headers["referrer-policy"] == "no-referrer"
    assert (await client.get("/oauth/callback?code=c&state=s")).text == index.text
    assert "function renderCallback" in (await client.get("/static/shops.js")).text
    config = (await client.get("/config.json")).json()
    assert config == {
        "services": ["auth", "catalog", "pricing", "offers", "orders", "bigbuy"],
        "oauth_redirect_uri": "http://console.test/oauth/callback",
    }
    assert json.loads((await client.get("/health")).text) == {"status": "ok"}


async def test_logs_name_no_query_string_and_no_header(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="mci_console")
    await client.get(
        "/api/auth/accounts/oauth/callback?state=STATE123&code=CODE456",
        headers={"Authorization": "Bearer mcik_secret_value"},
    )
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "mci_console")
    assert "/api/auth/accounts/oauth/callback" in logged
    for secret in ("STATE123", "CODE456", "mcik_secret_value"):
        assert secret not in logged


def test_a_missing_browser_fails_the_browser_tests_naming_make_tools(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"run `make tools`"):
        chromium_executable(search_path=str(tmp_path))


def http_counts(exposition: str) -> dict[tuple[str, str, str], float]:
    """(method, route, status) -> requests, from the console's /metrics."""
    counts = {}
    for family in text_string_to_metric_families(exposition):
        if family.name == "mci_http_requests":
            for sample in family.samples:
                if sample.name == "mci_http_requests_total":
                    labels = sample.labels
                    counts[(labels["method"], labels["route"], labels["status"])] = sample.value
    return counts


async def test_metrics_count_requests_by_route_template_never_by_path(
    client: httpx.AsyncClient,
) -> None:
    """Requests by route template and status, with their latency: an account id, a SKU or a
    scanner's path never becomes a label value."""
    proxied = ("GET", "/api/{service}/{path:path}", "200")
    before = http_counts((await client.get("/metrics")).text)
    assert (await client.get("/api/catalog/accounts/acc-live-7/items/SKU-4411")).status_code == 200
    assert (await client.get("/api/auth/forbidden")).status_code == 403
    assert (await client.get("/static/shops.js")).status_code == 200
    assert (await client.get("/wp-login.php")).status_code == 404
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = http_counts(response.text)
    assert after[proxied] == before.get(proxied, 0) + 1
    forbidden = ("GET", "/api/{service}/{path:path}", "403")
    assert after[forbidden] == before.get(forbidden, 0) + 1
    assert after[("GET", "/static", "200")] >= 1
    assert after[("GET", "unmatched", "404")] >= 1
    assert 'mci_http_request_duration_seconds_count{method="GET",route="/static"}' in response.text
    for item in ("acc-live-7", "SKU-4411", "wp-login", "shops.js"):
        assert item not in response.text
