"""Test harness: one emulator served over real HTTP and one openapi-core spec per session.

Every call made through `Api` is validated against Allegro's OpenAPI spec, request and
response, so a path, field name, enum or status code the spec does not have fails the test.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from allegro_emulator.app import create_app
from allegro_emulator.config import EmulatorConfig
from allegro_emulator.state import Emulator

MEDIA = "application/vnd.allegro.public.v1+json"
# (method, spec path template) of every exchange validated this session: the coverage test
# checks that each operation the emulator serves was validated at least once.
VALIDATED: set[tuple[str, str]] = set()
ALLEGRO_HOST = "https://api.allegro.pl"
UPLOAD_HOST = "https://upload.allegro.pl"


def spec_path() -> Path:
    """The repository's own copy of Allegro's spec (provenance in `spec/SOURCE.md`)."""
    return Path(__file__).resolve().parents[1] / "spec" / "allegro-public-api.yaml"


def _fix_quirks(spec: dict[str, Any]) -> dict[str, Any]:
    """Known defects of Allegro's spec that would fail a faithful emulator."""
    schemas = spec["components"]["schemas"]
    # CheckoutForms.count/totalCount say minimum 1, but Allegro returns 0 for an empty list.
    for key in ("count", "totalCount"):
        schemas["CheckoutForms"]["properties"][key].pop("minimum", None)
    # One media-type key has a stray space ("v1 +json").
    for item in spec["paths"].values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for response in (op.get("responses") or {}).values():
                content = response.get("content") or {}
                for key in list(content):
                    if " " in key:
                        content[key.replace(" ", "")] = content.pop(key)
    return spec


def pytest_configure(config: pytest.Config) -> None:
    # openapi-core does not know OAuth2 security schemes; we check tokens ourselves.
    config.addinivalue_line("filterwarnings", "ignore:Unsupported scheme type:UserWarning")


@pytest.fixture(scope="session")
def spec_dict() -> dict[str, Any]:
    with spec_path().open() as handle:
        return _fix_quirks(yaml.load(handle, Loader=yaml.CSafeLoader))


@pytest.fixture(scope="session")
def openapi(spec_dict: dict[str, Any]) -> OpenAPI:
    def deserialize(value: bytes | str, **params: Any) -> Any:
        return json.loads(value)

    config = Config(extra_media_type_deserializers={MEDIA: deserialize})
    return OpenAPI.from_dict(spec_dict, config=config)


class SchemaChecker:
    """Validates a value against one named schema of the spec, following `$ref`s.

    openapi-core does not pick the subtype a `discriminator` maps to (offer events, category
    parameters), so those items are checked here against their mapped schema as well."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from openapi_schema_validator import OAS30Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4

        self.schemas = spec["components"]["schemas"]
        registry: Registry[Any] = Registry().with_resource(
            "urn:spec", Resource.from_contents(spec, default_specification=DRAFT4)
        )
        self._validator = OAS30Validator
        self._registry = registry

    def validate(self, name: str, value: Any) -> None:
        schema = {"$ref": f"urn:spec#/components/schemas/{name}"}
        self._validator(schema, registry=self._registry).validate(value)

    def validate_discriminated(self, base: str, value: dict[str, Any]) -> None:
        discriminator = self.schemas[base]["discriminator"]
        mapped = discriminator["mapping"][value[discriminator["propertyName"]]]
        self.validate(mapped.rsplit("/", 1)[-1], value)


@pytest.fixture(scope="session")
def schemas(spec_dict: dict[str, Any]) -> SchemaChecker:
    return SchemaChecker(spec_dict)


class PathMatcher:
    """Spec path templates, literal segments preferred over {variables} when they overlap."""

    def __init__(self, paths: list[str]) -> None:
        compiled = []
        for template in paths:
            regex = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
            literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
            compiled.append((-literal, template, re.compile(regex)))
        self.templates = sorted(compiled)

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        for _, template, regex in self.templates:
            found = regex.match(path)
            if found:
                return template, found.groupdict()
        return None


class SpecRequest:
    def __init__(self, request: httpx.Request, pattern: str, path_params: dict[str, str]) -> None:
        # Image upload lives on its own host in the spec (operation-level `servers`).
        self.host_url = UPLOAD_HOST if pattern == "/sale/images" else ALLEGRO_HOST
        self.path = request.url.path
        self.path_pattern = pattern
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
            path=path_params,
        )


class SpecResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data = response.content or None
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(list(response.headers.items()))


class Api:
    """An Allegro client over real HTTP that checks every exchange against the spec."""

    def __init__(
        self,
        base_url: str,
        openapi: OpenAPI,
        matcher: PathMatcher,
        token: str | None = None,
        login: str = "",
    ):
        self.base_url = base_url
        self.login = login  # the seller's login, for admin calls about it
        self.openapi = openapi
        self.matcher = matcher
        self.token = token
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.validated: list[tuple[str, str, int]] = []

    def with_token(self, token: str | None) -> Api:
        return Api(self.base_url, self.openapi, self.matcher, token, self.login)

    def call(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        validate: bool | str = True,
    ) -> httpx.Response:
        """`validate`: True checks request and response; "response" only the response (for
        deliberately invalid requests: the answer must still be one the spec documents)."""
        sent = {"Accept": MEDIA}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        content = None
        if json_body is not None:
            sent["Content-Type"] = MEDIA
            content = json.dumps(json_body).encode()
        sent.update(headers or {})
        request = self.http.build_request(
            method, path, content=content, params=params, headers=sent
        )
        response = self.http.send(request)
        if validate:
            self.check(request, response, request_too=validate is True)
        return response

    def check(
        self, request: httpx.Request, response: httpx.Response, request_too: bool = True
    ) -> None:
        found = self.matcher.match(request.url.path)
        assert found is not None, f"{request.url.path} is not a path of Allegro's spec"
        pattern, path_params = found
        spec_request = SpecRequest(request, pattern, path_params)
        if request_too:
            self.openapi.validate_request(spec_request)
        if response.status_code == 429 or response.status_code >= 500:
            # The spec documents almost no 429/5xx: check the body is an ErrorsHolder instead.
            assert set(response.json()) == {"errors"}
            return
        self.openapi.validate_response(spec_request, SpecResponse(response))
        self.validated.append((request.method, pattern, response.status_code))
        VALIDATED.add((request.method, pattern))

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.call("POST", path, json_body=body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.call("PUT", path, json_body=body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.call("PATCH", path, json_body=body, **kw)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


TEST_CONFIG = {
    "rate_limits_enabled": False,
    "async_offer_share": 0.0,
    "operation_seconds": 0.3,
    "command_seconds": 0.05,
    "qualification_seconds": 0.0,
    "late_validation_share": 0.0,
    "duplicate_event_share": 0.0,
    "waybill_max_orders": 10,
    "shipping_rates_limit": 250,
    "rate_limit_scale": 1.0,
    "client_block_seconds": 60.0,
    "rate_limit_retry_after": False,
}


class Server:
    def __init__(self, emu: Emulator, base_url: str) -> None:
        self.emu = emu
        self.base_url = base_url
        self.admin = httpx.Client(base_url=base_url + "/__admin", timeout=10)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    config = EmulatorConfig(port=_free_port(), **TEST_CONFIG)  # type: ignore[arg-type]
    emu = Emulator(config)
    app = create_app(config, emu)
    uv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=config.port, log_level="warning")
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "emulator did not start"
        time.sleep(0.02)
    yield Server(emu, f"http://127.0.0.1:{config.port}")
    uv.should_exit = True
    thread.join(5)


@pytest.fixture(autouse=True)
def _restore_config(server: Server) -> Iterator[None]:
    """Tests may tune the emulator; put the defaults back afterwards."""
    yield
    server.emu.config.update(dict(TEST_CONFIG))
    server.emu.limiter.reset()
    server.admin.delete("/faults")


@pytest.fixture(scope="session")
def matcher(spec_dict: dict[str, Any]) -> PathMatcher:
    return PathMatcher(list(spec_dict["paths"]))


@pytest.fixture
def api(server: Server, openapi: OpenAPI, matcher: PathMatcher) -> Api:
    """A fresh seller with default return policy, warranty and shipping rates, and a token."""
    login = f"seller-{time.monotonic_ns()}"
    assert server.admin.post("/sellers", json={"login": login}).status_code == 201
    token = server.admin.post("/tokens", json={"login": login}).json()["access_token"]
    seller = Api(server.base_url, openapi, matcher, token, login)
    # Sellers have no GPSR data until they create it, as the platform will.
    from .helpers import PRODUCER

    assert seller.post("/sale/responsible-producers", PRODUCER).status_code == 201
    return seller


@pytest.fixture
def bare_api(server: Server, openapi: OpenAPI, matcher: PathMatcher) -> Api:
    """A seller with no after-sales settings and no shipping rates."""
    login = f"bare-{time.monotonic_ns()}"
    server.admin.post("/sellers", json={"login": login, "prerequisites": False})
    token = server.admin.post("/tokens", json={"login": login}).json()["access_token"]
    return Api(server.base_url, openapi, matcher, token)
