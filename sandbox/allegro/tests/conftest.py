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
# (method, spec path template, status) of every exchange validated this session, and of every
# answer the emulator served: the coverage test checks that each served one was validated.
VALIDATED: set[tuple[str, str, int]] = set()
SERVED: set[tuple[str, str, int]] = set()
# Validated answers whose status the spec does not list for that operation (Allegro sends them):
# checked against the generic error schemas instead.
OMITTED: set[tuple[str, str, int]] = set()
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
    # PUT /sale/shipping-rates/{id} alone gives its 403 as AuthError; every other operation's
    # 403 is an ErrorsHolder, which is what the emulator sends.
    forbidden = spec["paths"]["/sale/shipping-rates/{id}"]["put"]["responses"]["403"]
    forbidden["content"][MEDIA]["schema"] = {"$ref": "#/components/schemas/ErrorsHolder"}
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

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def check_discriminators(self, schema: dict[str, Any], value: Any) -> None:
        """Walk `value` along `schema`; wherever a schema has a discriminator, validate the value
        against the subtype its mapping names (which openapi-core does not do)."""
        self._walk(schema, value, set())

    def _walk(self, schema: dict[str, Any], value: Any, seen: set[tuple[int, int]]) -> None:
        schema = self._resolve(schema)
        key = (id(schema), id(value))
        if key in seen:
            return
        seen.add(key)
        discriminator = schema.get("discriminator")
        if discriminator and isinstance(value, dict):
            mapping = discriminator.get("mapping") or {}
            kind = value.get(discriminator["propertyName"])
            assert kind in mapping, f"{kind!r} is not a mapped {discriminator['propertyName']}"
            name = mapping[kind].rsplit("/", 1)[-1]
            self.validate(name, value)
            self._walk(self.schemas[name], value, seen)
        for part in schema.get("allOf", []):
            self._walk(part, value, seen)
        if isinstance(value, dict):
            properties = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for name, item in value.items():
                if name in properties:
                    self._walk(properties[name], item, seen)
                elif isinstance(extra, dict):
                    self._walk(extra, item, seen)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for item in value:
                self._walk(schema["items"], item, seen)


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


class Contract:
    """What `Api` checks exchanges with: the spec, its operations and its schemas."""

    def __init__(self, openapi: OpenAPI, matcher: PathMatcher, spec: dict[str, Any]) -> None:
        self.openapi = openapi
        self.matcher = matcher
        self.paths: dict[str, Any] = spec["paths"]
        self.schemas = SchemaChecker(spec)


class Api:
    """An Allegro client over real HTTP that checks every exchange against the spec."""

    def __init__(
        self, base_url: str, contract: Contract, token: str | None = None, login: str = ""
    ):
        self.base_url = base_url
        self.login = login  # the seller's login, for admin calls about it
        self.contract = contract
        self.openapi = contract.openapi
        self.matcher = contract.matcher
        self.token = token
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.validated: list[tuple[str, str, int]] = []

    def with_token(self, token: str | None) -> Api:
        return Api(self.base_url, self.contract, token, self.login)

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
        status = response.status_code
        operation = self.contract.paths[pattern][request.method.lower()]
        documented = operation["responses"].get(str(status))
        if documented is None:
            # A status the spec omits for this operation (401, 415, 429, 5xx...): Allegro sends
            # it anyway, with its generic error bodies.
            assert response.headers["content-type"] in (MEDIA, "application/json")
            name = "AuthError" if status == 401 else "ErrorsHolder"
            self.contract.schemas.validate(name, response.json())
            OMITTED.add((request.method, pattern, status))
        else:
            self.openapi.validate_response(spec_request, SpecResponse(response))
            content = documented.get("content") or {}
            media = response.headers.get("content-type", "").split(";")[0]
            schema = (content.get(media) or {}).get("schema")
            if schema is not None and response.content:
                self.contract.schemas.check_discriminators(schema, response.json())
        self.validated.append((request.method, pattern, status))
        VALIDATED.add((request.method, pattern, status))

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


class _Recorder:
    """Records (method, spec path, status) of every REST answer the emulator sends, however the
    test called it, for the coverage test (operations the spec does not have are left out)."""

    def __init__(self, app: Any, paths: dict[str, Any]) -> None:
        self.app = app
        self.matcher = PathMatcher(list(paths))
        self.operations = {
            (method.upper(), path)
            for path, item in paths.items()
            for method in item
            if method in ("get", "post", "put", "patch", "delete")
        }

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [0]

        async def recording(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self.app(scope, receive, recording)
        found = self.matcher.match(scope["path"])
        if found and (scope["method"], found[0]) in self.operations:
            SERVED.add((scope["method"], found[0], status[0]))


class Server:
    def __init__(self, emu: Emulator, base_url: str) -> None:
        self.emu = emu
        self.base_url = base_url
        self.admin = httpx.Client(base_url=base_url + "/__admin", timeout=10)


@pytest.fixture(scope="session")
def server(spec_dict: dict[str, Any]) -> Iterator[Server]:
    config = EmulatorConfig(port=_free_port(), **TEST_CONFIG)  # type: ignore[arg-type]
    emu = Emulator(config)
    app = _Recorder(create_app(config, emu), spec_dict["paths"])
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


@pytest.fixture
def allegro_defaults(server: Server) -> None:
    """Allegro's behaviours on, as in production: every rate limit at its figure and every
    product-offer write answered 202 (the suite otherwise turns both off for speed). At least
    one test per operation family runs with it."""
    server.emu.limiter.reset()
    server.emu.config.update(
        {"rate_limits_enabled": True, "rate_limit_scale": 1.0, "async_offer_share": 1.0}
    )


@pytest.fixture(scope="session")
def matcher(spec_dict: dict[str, Any]) -> PathMatcher:
    return PathMatcher(list(spec_dict["paths"]))


@pytest.fixture(scope="session")
def contract(openapi: OpenAPI, matcher: PathMatcher, spec_dict: dict[str, Any]) -> Contract:
    return Contract(openapi, matcher, spec_dict)


@pytest.fixture
def api(server: Server, contract: Contract) -> Api:
    """A fresh seller with default return policy, warranty and shipping rates, and a token."""
    login = f"seller-{time.monotonic_ns()}"
    assert server.admin.post("/sellers", json={"login": login}).status_code == 201
    token = server.admin.post("/tokens", json={"login": login}).json()["access_token"]
    seller = Api(server.base_url, contract, token, login)
    # Sellers have no GPSR data until they create it, as the platform will.
    from .helpers import PRODUCER

    assert seller.post("/sale/responsible-producers", PRODUCER).status_code == 201
    return seller


@pytest.fixture
def bare_api(server: Server, contract: Contract) -> Api:
    """A seller with no after-sales settings and no shipping rates."""
    login = f"bare-{time.monotonic_ns()}"
    server.admin.post("/sellers", json={"login": login, "prerequisites": False})
    token = server.admin.post("/tokens", json={"login": login}).json()["access_token"]
    return Api(server.base_url, contract, token)
