"""One client per service: the key as a bearer, the shared error shape turned into a Failure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from mci_cli.config import Config
from mci_cli.errors import REFUSED, UNREACHABLE, USAGE, Failure


def _error_line(response: httpx.Response) -> str:
    """`<status> <code>: <message>` from `{"error": {"code", "message", "details"}}`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        line = f"{response.status_code} {error.get('code', 'error')}: {error.get('message', '')}"
        details = error.get("details")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            first = details[0]
            where = first.get("field")
            why = first.get("reason") or first.get("code")
            if where and why:
                line += f" ({where}: {why})"
        return line
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    return f"{response.status_code} {response.reason_phrase}{': ' + text if text else ''}"


class Api:
    def __init__(self, config: Config, service: str) -> None:
        self.service = service
        self.base = config.url(service)
        if not config.api_key:
            raise Failure(
                USAGE,
                "no API key: set MCI_API_KEY, api_key in the config file, or run a local "
                "`make run` stack (.run/bootstrap-admin-key)",
            )
        self._client = httpx.Client(
            base_url=self.base,
            headers={"Authorization": f"Bearer {config.api_key}"},
            timeout=httpx.Timeout(config.timeout, connect=10.0),
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        url = f"{self.base}{path}"
        try:
            response = self._client.request(
                method,
                path,
                json=json,
                params={k: v for k, v in (params or {}).items() if v is not None},
                content=content,
                headers=headers,
            )
        except httpx.TransportError as exc:
            kind = type(exc).__name__
            raise Failure(UNREACHABLE, f"cannot reach {self.service} at {url} ({kind})") from None
        if response.status_code >= 400:
            raise Failure(REFUSED, f"{self.service}: {_error_line(response)}")
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise Failure(
                REFUSED, f"{self.service}: {response.status_code} answer that is not JSON"
            ) from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def get_all(self, path: str, **params: Any) -> list[Any]:
        """Every item of a paged list (`items` and `next`, the services' one contract)."""
        items: list[Any] = []
        after: str | None = None
        while True:
            page = self.get(path, **params, limit=1000, **({"after": after} if after else {}))
            items.extend(page["items"])
            after = page.get("next")
            if not after:
                return items

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, json=body, params=params)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
