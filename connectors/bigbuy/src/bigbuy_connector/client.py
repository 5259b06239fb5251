"""BigBuy's REST API: the bearer key, the per-endpoint rate budgets, and answers checked by body.

Budgets: every endpoint (a path with its ids taken out) has its own fixed window opened by the
first call. Before a call the client reserves one unit of the endpoint's budget in the
database (`rate_budgets`, shared by replicas and kept across restarts); after it, the
`X-RateLimit-*` headers overwrite what was reserved. With nothing left the call waits until the
stored reset (plus a margin: the header is whole seconds) or, when that is further than the
caller wants to wait, raises `Throttled` with the time to come back. A 429 records the reset and
raises `RateLimited`: nothing is retried at once.

Answers: BigBuy has answered 200 with an error body, an empty 200 for a 404 and error bodies
with `code` and `message` swapped; all of them are read as the errors they are.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson

from bigbuy_connector.clock import Clock

HOUR = 3600.0

# BigBuy's documented limits (calls, window): only a first guess for an endpoint never called,
# replaced by the headers of its first answer.
_RULES: list[tuple[re.Pattern[str], int, float]] = [
    (
        re.compile(
            r"^catalog/(products|productprices|productsstockbyhandlingdays|productsimages"
            r"|productsvariations|productvariationprices|productsvariationsstockbyhandlingdays"
            r"|variations|languages)$"
        ),
        10,
        HOUR,
    ),
    (
        re.compile(r"^catalog/(productsinformation|taxonomies|attributes|attributegroups)$"),
        24,
        HOUR,
    ),
    (re.compile(r"^catalog/(manufacturers|productstaxonomies)$"), 5, HOUR),
    (re.compile(r"^catalog/new-products$"), 2, HOUR),
    (re.compile(r"^catalog/"), 1, 5.0),
    (re.compile(r"^shipping/lowest-shipping-costs-by-country/"), 36, 6 * HOUR),
    (re.compile(r"^(order|shipping|tracking|user)/"), 1, 1.0),
]
_BEFORE_VARIABLE = ("reference", "productinformationbysku", "lowest-shipping-costs-by-country")


def endpoint_key(path: str) -> str:
    """`catalog/product/123.json` -> `catalog/product/{}`: what one budget covers."""
    parts = path.removesuffix(".json").strip("/").split("/")
    out = []
    for i, part in enumerate(parts):
        variable = any(ch.isdigit() for ch in part) or (i > 0 and parts[i - 1] in _BEFORE_VARIABLE)
        out.append("{}" if variable and i > 0 else part)
    return "/".join(out)


def documented_limit(endpoint: str) -> tuple[int, float]:
    for pattern, calls, seconds in _RULES:
        if pattern.search(endpoint):
            return calls, seconds
    return 1, 1.0


# --- errors ----------------------------------------------------------------------------------


@dataclass
class BigBuyError(Exception):
    """BigBuy refused or failed; `code` is BigBuy's (`ER003`, `404`, `soft`, ...)."""

    status: int
    code: str
    message: str
    data: Any = None
    fields: list[str] = field(default_factory=list)  # form errors: the fields refused

    def __str__(self) -> str:
        return f"BigBuy {self.status} {self.code}: {self.message}"[:500]

    @property
    def transient(self) -> bool:
        """Worth trying again later as it is."""
        return self.status >= 500 or self.status in (0, 429) or self.code in ("soft", "ER009")


class SoftError(BigBuyError):
    """200 OK whose body is an error (or a pasted HTTP 500): nothing was done."""


class NotFoundError(BigBuyError):
    """404, or the empty 200 BigBuy sends for one."""


class RateLimited(BigBuyError):
    """429: the budget was spent (by someone else, or the stored budget was wrong)."""

    until: float = 0.0


class Throttled(Exception):
    """The endpoint's budget is spent until `until` (Unix seconds); no call was made."""

    def __init__(self, endpoint: str, until: float) -> None:
        super().__init__(f"{endpoint}: budget spent until {until:.0f}")
        self.endpoint = endpoint
        self.until = until


# --- budgets ---------------------------------------------------------------------------------


class Budgets(Protocol):
    """Per-endpoint budgets shared by replicas (`repository.BudgetRepository` behind it)."""

    async def reserve(self, endpoint: str, now: float) -> float | None:
        """Take one call; None if taken, else the time the budget comes back."""

    async def record(self, endpoint: str, limit: int, remaining: int, reset_at: float) -> None: ...

    async def spent(self, endpoint: str, reset_at: float) -> None: ...

    async def available_at(self, endpoint: str, now: float) -> float:
        """When the next call may go (`now` if at once), without taking anything."""


@dataclass
class Answer:
    status: int
    body: Any
    headers: httpx.Headers


class BigBuyClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        budgets: Budgets,
        clock: Clock,
        *,
        timeout: float = 120.0,
        margin: float = 2.0,
        max_wait: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self.budgets = budgets
        self.clock = clock
        self.margin = margin
        self.max_wait = max_wait

    async def aclose(self) -> None:
        await self.http.aclose()

    async def get(
        self, path: str, params: dict[str, Any] | None = None, *, max_wait: float | None = None
    ) -> Any:
        return (await self.call("GET", path, params=params, max_wait=max_wait)).body

    async def post(self, path: str, body: Any, *, max_wait: float | None = None) -> Answer:
        return await self.call("POST", path, json=body, max_wait=max_wait)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        max_wait: float | None = None,
    ) -> Answer:
        endpoint = endpoint_key(path)
        limit = self.max_wait if max_wait is None else max_wait
        while True:
            now = self.clock.now()
            until = await self.budgets.reserve(endpoint, now)
            if until is None:
                break
            if until - now > limit:
                raise Throttled(endpoint, until)
            await self.clock.sleep(until - now)
        try:
            response = await self.http.request(method, path, params=params, json=json)
        except httpx.HTTPError as exc:
            raise BigBuyError(0, "network", f"{type(exc).__name__}: {exc}") from None
        await self._record(endpoint, response)
        return _read(method, response)

    async def _record(self, endpoint: str, response: httpx.Response) -> None:
        headers = response.headers
        try:
            reset = float(headers["x-ratelimit-reset"]) + self.margin
            if response.status_code == 429:
                await self.budgets.spent(endpoint, reset)
                return
            await self.budgets.record(
                endpoint,
                int(headers["x-ratelimit-limit"]),
                int(headers["x-ratelimit-remaining"]),
                reset,
            )
        except (KeyError, ValueError):
            if response.status_code == 429:  # no usable reset: assume the documented window
                await self.budgets.spent(
                    endpoint, self.clock.now() + documented_limit(endpoint)[1] + self.margin
                )

    async def available_at(self, path: str, now: float) -> float:
        """When `path`'s endpoint may be called next (`now` if at once)."""
        return await self.budgets.available_at(endpoint_key(path), now)


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def _is_error_body(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and "code" in body
        and "message" in body
        and set(body) <= {"code", "message", "errors", "error_detail"}
    )


def _read(method: str, response: httpx.Response) -> Answer:
    status = response.status_code
    text = response.content
    if status == 429:
        error = RateLimited(429, "429", text.decode(errors="replace")[:200])
        with contextlib.suppress(KeyError, ValueError):
            error.until = float(response.headers["x-ratelimit-reset"])
        raise error
    body = _json(response) if text.strip() else None
    if 200 <= status < 300:
        if text.lstrip().startswith(b"HTTP/"):
            raise SoftError(status, "soft", "an HTTP error response pasted in a 200 body")
        if text.strip() and body is None:
            raise SoftError(status, "soft", "a 200 body that is not JSON")
        if _is_error_body(body):
            assert isinstance(body, dict)
            code, message = _code_message(body)
            raise SoftError(status, "soft", f"{code}: {message}")
        if body is None and method == "GET" and status == 200 and not text.strip():
            # An empty 200 where a 404 was meant (lists always answer at least `[]`).
            raise NotFoundError(404, "404", "empty 200 answer")
        return Answer(status, body, response.headers)
    code, message = _code_message(body) if isinstance(body, dict) else (str(status), "")
    if not message:
        message = text.decode(errors="replace")[:300]
    data: Any = None
    fields: list[str] = []
    if isinstance(body, dict):
        if isinstance(body.get("errors"), dict):
            fields = sorted(_form_fields(body["errors"], ""))
        if isinstance(body.get("error_detail"), dict):
            code, data = "WAREHOUSES", body["error_detail"]
    parsed = _embedded(message)
    if parsed is not None:
        message = str(parsed.get("info", message))
        data = parsed.get("data")
        if not code.startswith("ER") and message == "Products error.":
            code = "PRODUCTS"
    if status == 404:
        raise NotFoundError(status, code, message, data)
    raise BigBuyError(status, code, message, data, fields)


def _code_message(body: dict[str, Any]) -> tuple[str, str]:
    code, message = body.get("code"), body.get("message")
    if isinstance(code, str) and isinstance(message, int):  # seen swapped
        code, message = str(message), code
    return str(code), "" if message is None else str(message)


def _embedded(message: str) -> dict[str, Any] | None:
    """Order errors carry `{"info", "data"}` as a JSON string in `message`."""
    if not message.startswith("{"):
        return None
    try:
        parsed = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _form_fields(tree: dict[str, Any], prefix: str) -> set[str]:
    """The Symfony-style error tree's leaves with errors: `shippingAddress.postcode`, ..."""
    found: set[str] = set()
    for name, child in (tree.get("children") or {}).items():
        if not isinstance(child, dict):
            continue
        path = f"{prefix}{name}"
        if child.get("errors"):
            found.add(path)
        found |= _form_fields(child, path + ".")
    return found
