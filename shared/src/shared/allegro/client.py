"""AllegroClient: httpx under Allegro's rules.

- base URLs from settings: the emulator by default; Allegro's sandbox or production by config;
  image uploads (`POST /sale/images`) go to Allegro's upload host (`upload_url`);
- Allegro's media type on every request; error bodies raised as typed errors;
- a 303 (finished asynchronous operation) is followed with the token re-sent;
- retries with exponential backoff and full jitter on 5xx, timeouts and connection errors, for
  calls that are idempotent (GET, PUT, DELETE, or marked so by the caller);
- the rate limiter: before every call, the Client ID budget (this service's share of the
  9,000/min, with a safety margin) and the seller's budget for the endpoint class; after a 429,
  the key is blocked for everyone sharing the budget, for Allegro's `Retry-After` when it gives
  one and `block_seconds` otherwise; a caller whose right to act ends (a claim's lease) gives
  `send_by`, and a call the budget would let out only later is not sent (`NotSentInTime`);
- concurrency bounded (httpx degrades past a few dozen in-flight requests);
- metrics: calls by endpoint class and status, 429s, limiter waits, in-flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import importlib.util
import random
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson
from prometheus_client import Counter, Gauge, Histogram

from shared.allegro.errors import (
    AllegroError,
    AllegroErrorDetail,
    AllegroUnavailable,
    NotSentInTime,
    OAuthError,
    RateLimited,
)
from shared.allegro.limiter import Budgets, Limit, MemoryBudgets, TooLate, acquire
from shared.logs import get_logger

MEDIA_TYPE = "application/vnd.allegro.public.v1+json"
log = get_logger(__name__)

# httpcore imports sniffio several times a request to tell asyncio from trio; sniffio is not
# installed (anyio 4 no longer needs it), and a failed import searches the whole sys.path
# each time: 8 % of the offers process's CPU in bench-offers. Marked absent once, the import
# fails at once and httpcore takes asyncio, as it did.
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

requests_total = Counter(
    "mci_allegro_requests_total",
    "Calls to Allegro by endpoint class and HTTP status.",
    ["endpoint_class", "status"],
)
rate_limited_total = Counter(
    "mci_allegro_rate_limited_total", "429 answers from Allegro, by budget scope.", ["scope"]
)
# Both scopes exist from the start at 0, so rate() and the 429 alert see the first one.
for _scope in ("seller", "client"):
    rate_limited_total.labels(_scope)
limiter_wait = Histogram(
    "mci_allegro_limiter_wait_seconds",
    "Time a call waited for its rate budget.",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 120),
)
in_flight = Gauge("mci_allegro_requests_in_flight", "Calls to Allegro under way.")


class TokenProvider(Protocol):
    """Gives the access token of an account (refreshing it if needed)."""

    async def access_token(self, account_id: str) -> str: ...

    async def token_rejected(self, account_id: str) -> None:
        """Allegro answered 401 with this account's token: drop any cached copy."""
        ...


# Resources Allegro serves on its upload host (the spec's operation-level `servers`).
UPLOAD_PATHS = frozenset({"/sale/images"})


def upload_url_for(api_url: str) -> str:
    """Allegro's upload host beside its API host (production or sandbox); any other API URL
    (the emulator) serves uploads itself."""
    scheme, sep, rest = api_url.partition("://")
    if sep and rest.startswith("api.allegro.pl"):
        return f"{scheme}://upload.{rest[len('api.') :]}"
    return api_url


# The share of Allegro's 9,000 calls a minute per Client ID the platform's budgets add up to
# at most (times the services' shares). With one-second bursts no sliding minute goes past
# 0.95 x 61/60 = 97 % of the limit; each point of margin is a point of publication time lost
# once image uploads make the Client ID, not the seller's creates, the binding limit.
CLIENT_ID_MARGIN = 0.95

# The same for the seller's batch commands (9,000 offer changes a minute each): the command
# phases of a repricing or a stock sync run at this budget, so their time is 1/margin of the
# least Allegro allows. The margin leaves room for one command on top of a full minute.
COMMAND_MARGIN = 0.95
# The most offers one command should carry (Allegro takes 1,000): a sliding minute then holds
# at most a minute at the command budget plus one command, and a second's worth of it to spare
# for the jitter between a command's turn and its arrival: 9,000 x 0.05 - 9,000 x 0.95 / 60
# = 307 under Allegro's 9,000 offer changes a minute.
LARGEST_COMMAND = 300


@dataclass(frozen=True)
class AllegroSettings:
    api_url: str = "http://127.0.0.1:8400"
    auth_url: str = "http://127.0.0.1:8400"
    upload_url: str = "http://127.0.0.1:8400"
    client_id: str = ""
    # This service's share of the Client ID's 9,000 requests/min, after the safety margin.
    client_requests_per_minute: float = 9000 * CLIENT_ID_MARGIN * 0.25
    seller_limits: Mapping[str, float] = field(
        default_factory=lambda: {
            # 0.93, not 0.9: publication runs at these budgets for hours, and each point of
            # margin is a point of time lost; one-second bursts keep any sliding minute under
            # 0.93 x 61/60 = 95% of the limit, the rest absorbs arrival jitter.
            "product-offers:GET": 3500 * 0.93,
            "product-offers:PATCH": 2500 * 0.93,
            "product-offers:POST": 2400 * 0.93,
            # Offer changes per minute. A command is charged all its offers at once, so a
            # sliding minute holds at most a minute at this rate plus one command: at most
            # COMMAND_MARGIN x 9,000 + the largest command (LARGEST_COMMAND).
            "price-commands": 9000 * COMMAND_MARGIN,
            "quantity-commands": 9000 * COMMAND_MARGIN,
            "publication-commands": 9000 * COMMAND_MARGIN,
            "modification-commands": 9000 * COMMAND_MARGIN,
            "matching-categories": 5 * 60 * 0.9,
            "fee-preview": 25 * 60 * 0.9,
            "shipments": 50 * 60 * 0.9,
        }
    )
    block_seconds: float = 60.0
    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    timeout_seconds: float = 30.0
    max_concurrency: int = 8

    def scaled(self, factor: float) -> AllegroSettings:
        """The same rules against an Allegro whose limits are `factor` times Allegro's and whose
        blocks are `factor` times shorter (the emulator's `rate_limit_scale`, for benchmarks)."""
        if factor == 1:
            return self
        return dataclasses.replace(
            self,
            client_requests_per_minute=self.client_requests_per_minute * factor,
            seller_limits={k: v * factor for k, v in self.seller_limits.items()},
            block_seconds=self.block_seconds / factor,
        )


_CLASSES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/sale/product-offers(/|$)"), "product-offers"),
    (re.compile(r"^/sale/offer-price-change-commands"), "price-commands"),
    (re.compile(r"^/sale/offer-quantity-change-commands"), "quantity-commands"),
    (re.compile(r"^/sale/offer-publication-commands"), "publication-commands"),
    (re.compile(r"^/sale/offer-modification-commands"), "modification-commands"),
    (re.compile(r"^/sale/matching-categories"), "matching-categories"),
    (re.compile(r"^/pricing/offer-fee-preview"), "fee-preview"),
    (re.compile(r"^/order/checkout-forms/[^/]+/shipments"), "shipments"),
    (re.compile(r"^/order/"), "orders"),
    (re.compile(r"^/sale/"), "sale"),
]


def retry_after_seconds(response: httpx.Response | None) -> float | None:
    """`Retry-After` in seconds (a number or an HTTP date); None when absent or unreadable."""
    raw = None if response is None else response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def endpoint_class(method: str, path: str) -> str:
    for pattern, name in _CLASSES:
        if pattern.match(path):
            return f"{name}:{method}" if name == "product-offers" else name
    return "other"


def _details(response: httpx.Response) -> list[AllegroErrorDetail]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return [
            AllegroErrorDetail(code=f"HTTP_{response.status_code}", message=response.text[:200])
        ]
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return [AllegroErrorDetail.from_json(e) for e in body["errors"] if isinstance(e, dict)]
    return [AllegroErrorDetail(code=f"HTTP_{response.status_code}", message=str(body)[:200])]


class AllegroClient:
    def __init__(
        self,
        settings: AllegroSettings,
        *,
        tokens: TokenProvider | None = None,
        budgets: Budgets | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        owns_tokens: bool = False,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        # A token provider made for this client (auth's, with its own HTTP pool) closes with it.
        self.owns_tokens = owns_tokens
        self.budgets = budgets or MemoryBudgets()
        self._http = httpx.AsyncClient(
            timeout=settings.timeout_seconds, transport=transport, follow_redirects=False
        )
        self._slots = asyncio.Semaphore(settings.max_concurrency)

    async def aclose(self) -> None:
        await self._http.aclose()
        closer = getattr(self.tokens, "aclose", None) if self.owns_tokens else None
        if closer is not None:
            await closer()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    # --- REST ---------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        account_id: str | None = None,
        token: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        cost: float = 1.0,
        send_by: float | None = None,
    ) -> httpx.Response:
        """One call to Allegro's REST API as an account (or with an explicit token).

        `cost` is what the call spends of its seller budget (offer changes, for commands).
        `send_by` (a `time.time()`): the call (and any retry) is sent no later, or not at all
        (`NotSentInTime`).
        Returns the final response (2xx, after following a 303); raises AllegroError otherwise.
        """
        retry = idempotent if idempotent is not None else method in ("GET", "PUT", "DELETE")
        kind = endpoint_class(method, path)
        attempt = 0
        token_refreshed = False
        while True:
            await self._wait_for_budget(kind, account_id, cost, send_by, method, path)
            bearer = token or await self._token(account_id)
            try:
                base = self.settings.upload_url if path in UPLOAD_PATHS else self.settings.api_url
                response = await self._send(method, base + path, bearer, json, params, kind)
                if response.status_code == 303 and "location" in response.headers:
                    # The follow is a call of its own on Allegro's limits: budgeted like one.
                    location = self._absolute(response.headers["location"])
                    follow = httpx.URL(location).path
                    follow_kind = endpoint_class("GET", follow)
                    await self._wait_for_budget(
                        follow_kind, account_id, 1.0, send_by, "GET", follow
                    )
                    response = await self._send("GET", location, bearer, None, None, follow_kind)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if (retry or not sent) and attempt < self.settings.max_retries:
                    attempt += 1
                    await self._backoff(attempt, kind, repr(exc))
                    continue
                raise AllegroUnavailable(
                    0, [AllegroErrorDetail("NO_RESPONSE", repr(exc))], method, path
                ) from exc
            status = response.status_code
            if status < 400:
                return response
            details = _details(response)
            if status == 429:
                await self._blocked(kind, account_id, details, response)
                if attempt < self.settings.max_retries:
                    attempt += 1
                    continue  # the budget now waits out the block before the next try
                raise RateLimited(status, details, method, path)
            if status == 401 and account_id and self.tokens and not token and not token_refreshed:
                await self.tokens.token_rejected(account_id)
                token_refreshed = True
                continue
            if status >= 500 and retry and attempt < self.settings.max_retries:
                attempt += 1
                await self._backoff(attempt, kind, f"HTTP {status}")
                continue
            error_class = AllegroUnavailable if status >= 500 else AllegroError
            raise error_class(status, details, method, path)

    async def get(self, path: str, **kwargs: Any) -> Any:
        return (await self.request("GET", path, **kwargs)).json()

    async def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, json=body, **kwargs)

    async def put(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, json=body, **kwargs)

    async def patch(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, json=body, **kwargs)

    # --- OAuth --------------------------------------------------------------------------------

    async def oauth_token(self, form: Mapping[str, str], client_secret: str) -> dict[str, Any]:
        """POST /auth/oauth/token with the client's basic auth; OAuthError on refusal."""
        return await self._oauth("/auth/oauth/token", form, client_secret)

    async def oauth_device(self, form: Mapping[str, str], client_secret: str) -> dict[str, Any]:
        return await self._oauth("/auth/oauth/device", form, client_secret)

    def authorize_url(self, params: Mapping[str, str]) -> str:
        return str(httpx.URL(self.settings.auth_url + "/auth/oauth/authorize", params=dict(params)))

    async def _oauth(
        self, path: str, form: Mapping[str, str], client_secret: str
    ) -> dict[str, Any]:
        await self._wait_for_budget("oauth", None, 1)
        attempt = 0
        while True:
            try:
                async with self._slots:
                    response = await self._http.post(
                        self.settings.auth_url + path,
                        data=dict(form),
                        auth=(self.settings.client_id, client_secret),
                    )
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                # A token request may have been used up server-side: only retry unsent ones.
                if isinstance(exc, httpx.ConnectError) and attempt < self.settings.max_retries:
                    attempt += 1
                    await self._backoff(attempt, "oauth", repr(exc))
                    continue
                raise OAuthError(0, "unavailable", repr(exc)) from exc
            requests_total.labels("oauth", str(response.status_code)).inc()
            if response.status_code == 200:
                result: dict[str, Any] = response.json()
                return result
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise OAuthError(
                response.status_code,
                str(body.get("error") or f"http_{response.status_code}"),
                str(body.get("error_description") or ""),
            )

    # --- internals ----------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        bearer: str | None,
        body: Any,
        params: Mapping[str, Any] | None,
        kind: str,
    ) -> httpx.Response:
        headers = {"Accept": MEDIA_TYPE}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        content = None
        if body is not None:
            headers["Content-Type"] = MEDIA_TYPE
            content = orjson.dumps(body)
        async with self._slots:
            in_flight.inc()
            try:
                response = await self._http.request(
                    method, url, headers=headers, content=content, params=params
                )
            finally:
                in_flight.dec()
        requests_total.labels(kind, str(response.status_code)).inc()
        return response

    def _absolute(self, location: str) -> str:
        return location if "://" in location else self.settings.api_url + location

    def _client_key(self) -> str:
        return f"client:{self.settings.client_id or 'default'}"

    async def _wait_for_budget(
        self,
        kind: str,
        account_id: str | None,
        cost: float,
        send_by: float | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        started = time.monotonic()
        try:
            # One second's worth of burst: Allegro counts the Client ID's calls in a sliding
            # minute and blocks the whole app for a minute past it; ten seconds' worth on top
            # of a minute at the full rate went past it (after every block, the bucket full).
            await acquire(
                self.budgets,
                self._client_key(),
                Limit(self.settings.client_requests_per_minute, burst_seconds=1.0),
                deadline=send_by,
            )
            limit = self.settings.seller_limits.get(kind)
            if account_id and limit:
                await acquire(
                    self.budgets,
                    f"seller:{account_id}:{kind}",
                    Limit(limit),
                    cost,
                    deadline=send_by,
                )
            if send_by is not None and time.time() > send_by:
                raise TooLate("the caller's deadline")
        except TooLate as exc:
            raise NotSentInTime(
                0,
                [AllegroErrorDetail("NOT_SENT_IN_TIME", f"no budget in time: {exc}")],
                method,
                path,
            ) from None
        waited = time.monotonic() - started
        if waited > 0.001:
            limiter_wait.observe(waited)

    async def _blocked(
        self,
        kind: str,
        account_id: str | None,
        details: list[AllegroErrorDetail],
        response: httpx.Response | None = None,
    ) -> None:
        # Allegro does not say which limit tripped; block the seller's class if it has one,
        # and the whole Client ID otherwise (its block is the costly one: never hammer it).
        scope = "seller" if account_id and kind in self.settings.seller_limits else "client"
        key = f"seller:{account_id}:{kind}" if scope == "seller" else self._client_key()
        told = retry_after_seconds(response)
        # Allegro's own word when it gives one; otherwise the documented block, jittered so
        # that the replicas do not all come back in the same instant.
        seconds = (
            told if told is not None else self.settings.block_seconds * (1 + random.random() * 0.2)
        )
        rate_limited_total.labels(scope).inc()
        log.warning(
            "allegro_rate_limited",
            scope=scope,
            endpoint_class=kind,
            pause_seconds=round(seconds, 1),
            retry_after=told,
            codes=[d.code for d in details],
        )
        await self.budgets.block(key, seconds)

    async def _backoff(self, attempt: int, kind: str, reason: str) -> None:
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2**attempt)
        delay = random.uniform(0, ceiling)
        log.info("allegro_retry", endpoint_class=kind, attempt=attempt, delay=delay, reason=reason)
        await asyncio.sleep(delay)

    async def _token(self, account_id: str | None) -> str | None:
        if account_id is None or self.tokens is None:
            return None
        return await self.tokens.access_token(account_id)
