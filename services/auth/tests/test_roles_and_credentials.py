"""Roles and credentials that hold: internal routes serve listed services only, operator keys
never read seller tokens, secrets and bootstrap keys are refused outside development, the
bootstrap key is revocable, redirect URIs are ours, and the API docs are not public in production.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError

from auth.settings import DEVELOPMENT_BOOTSTRAP_KEY_ID, Settings
from mci_testing.app import running_app
from shared.security import issue_service_token, issue_token

from .conftest import ADMIN_KEY, CALLBACK, AuthUnderTest


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def new_key(auth: AuthUnderTest, role: str) -> str:
    created = await auth.http.post("/api-keys", json={"name": f"k-{role}", "role": role})
    assert created.status_code == 201, created.text
    return str(created.json()["api_key"])


async def test_seller_tokens_go_to_listed_services_only_never_to_an_operator_role(
    auth: AuthUnderTest,
) -> None:
    seller = auth.emulator.new_seller()
    account_id = await auth.new_account()
    await auth.connect(account_id, seller["login"])
    route = f"/internal/accounts/{account_id}/access-token"
    secret = auth.settings.service_token_secret.get_secret_value()

    for service in ("catalog", "pricing", "offers", "orders"):
        served = await auth.http.get(route, headers=bearer(issue_service_token(secret, service)))
        assert served.status_code == 200, (service, served.text)
        assert served.json()["access_token"]

    refused_credentials = {
        "admin API key": ADMIN_KEY,
        "operator API key": await new_key(auth, "operator"),
        "viewer API key": await new_key(auth, "viewer"),
        "admin operator token": issue_token(secret, "ops", "admin"),
        "unlisted service": issue_service_token(secret, "intruder"),
        "auth itself": issue_service_token(secret, "auth"),
    }
    for what, credential in refused_credentials.items():
        for params in ({}, {"force_refresh": "true"}):
            refused = await auth.http.get(route, params=params, headers=bearer(credential))
            assert refused.status_code == 403, (what, params, refused.text)
            assert refused.json()["error"]["code"] == "forbidden"
            assert "access_token" not in refused.text

    # A service token is no operator credential either, whatever the route.
    catalog = bearer(issue_service_token(secret, "catalog"))
    assert (await auth.http.get("/api-keys", headers=catalog)).status_code == 403
    assert (await auth.http.get("/accounts", headers=catalog)).status_code == 403


async def test_api_key_introspection_answers_listed_services_only(auth: AuthUnderTest) -> None:
    secret = auth.settings.service_token_secret.get_secret_value()
    body = {"api_key": await new_key(auth, "viewer")}
    introspect = "/internal/api-keys/introspect"

    answered = await auth.http.post(
        introspect, json=body, headers=bearer(issue_service_token(secret, "pricing"))
    )
    assert answered.status_code == 200
    assert answered.json()["role"] == "viewer"
    for credential in (ADMIN_KEY, issue_service_token(secret, "intruder")):
        refused = await auth.http.post(introspect, json=body, headers=bearer(credential))
        assert refused.status_code == 403, refused.text
        assert "role" not in refused.json()


async def test_the_account_directory_answers_listed_services_only(auth: AuthUnderTest) -> None:
    secret = auth.settings.service_token_secret.get_secret_value()
    account_id = await auth.new_account()
    route = f"/internal/accounts/{account_id}"

    known = await auth.http.get(route, headers=bearer(issue_service_token(secret, "catalog")))
    assert known.status_code == 200, known.text
    assert known.json()["id"] == account_id
    unknown = await auth.http.get(
        "/internal/accounts/00000000-0000-0000-0000-000000000000",
        headers=bearer(issue_service_token(secret, "pricing")),
    )
    assert unknown.status_code == 404
    for credential in (ADMIN_KEY, issue_service_token(secret, "intruder")):
        refused = await auth.http.get(route, headers=bearer(credential))
        assert refused.status_code == 403, refused.text


async def test_the_callers_of_each_internal_route_are_a_setting(
    make_auth: Callable[..., Any],
) -> None:
    settings, app = make_auth(
        access_token_callers="offers, orders", introspection_callers="catalog"
    )
    assert settings.access_token_callers == ["offers", "orders"]
    secret = settings.service_token_secret.get_secret_value()
    async with running_app(app) as http:
        route = "/internal/accounts/00000000-0000-0000-0000-000000000000/access-token"
        # Listed: passes the guard (the account does not exist: 404, not 403).
        listed = await http.get(route, headers=bearer(issue_service_token(secret, "offers")))
        assert listed.status_code == 404
        unlisted = await http.get(route, headers=bearer(issue_service_token(secret, "catalog")))
        assert unlisted.status_code == 403
        introspected = await http.post(
            "/internal/api-keys/introspect",
            json={"api_key": ADMIN_KEY},
            headers=bearer(issue_service_token(secret, "catalog")),
        )
        assert introspected.status_code == 200


def production_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "service_token_secret": SecretStr(secrets.token_hex(32)),
        "token_encryption_keys": SecretStr(Fernet.generate_key().decode()),
        "allegro_client_secret": SecretStr(secrets.token_urlsafe(48)),
        "bootstrap_admin_key": SecretStr(f"mcik_first_{secrets.token_urlsafe(32)}"),
    }
    return Settings(**(values | overrides))


def test_production_takes_generated_secrets() -> None:
    settings = production_settings()
    assert settings.environment == "production"
    assert settings.bootstrap_admin_key is not None
    assert production_settings(bootstrap_admin_key=None).bootstrap_admin_key is None


@pytest.mark.parametrize(
    ("setting", "value", "why"),
    [
        ("service_token_secret", "password", "placeholder"),
        ("service_token_secret", "changeme", "placeholder"),
        ("service_token_secret", "x" * 48, "repetitive"),
        # Random values get fixed ids: every pytest-xdist worker must collect the same names.
        pytest.param(
            "service_token_secret",
            secrets.token_hex(10),
            "shorter than 32 bytes",
            id="service_token_secret-random-10-bytes",
        ),
        ("token_encryption_keys", "changeme", "placeholder"),
        pytest.param(
            "token_encryption_keys",
            secrets.token_hex(32),
            "32 bytes",
            id="token_encryption_keys-random-hex",
        ),
        ("token_encryption_keys", "not base64 at all!", "base64"),
        ("token_encryption_keys", "A" * 43 + "=", "repetitive"),
        ("allegro_client_secret", "demo-secret", "placeholder"),
        pytest.param(
            "bootstrap_admin_key",
            f"mcik_{DEVELOPMENT_BOOTSTRAP_KEY_ID}_{secrets.token_urlsafe(32)}",
            "development key",
            id="bootstrap_admin_key-development-key-id",
        ),
        ("bootstrap_admin_key", ADMIN_KEY, "repetitive"),
        ("bootstrap_admin_key", "mcik_abc_short", "shorter than 32 bytes"),
        ("bootstrap_admin_key", "changeme", "placeholder"),
        pytest.param(
            "bootstrap_admin_key",
            secrets.token_hex(32),
            "mcik_<id>_<secret>",
            id="bootstrap_admin_key-random-hex",
        ),
    ],
)
def test_production_refuses_weak_placeholder_and_development_credentials(
    setting: str, value: str, why: str
) -> None:
    with pytest.raises(ValidationError, match=why) as refused:
        production_settings(**{setting: SecretStr(value)})
    assert setting in str(refused.value) or "AUTH_BOOTSTRAP_ADMIN_KEY" in str(refused.value)
    assert value not in str(refused.value)


def test_the_development_key_of_the_token_cipher_is_refused_in_production() -> None:
    from auth.crypto import DEVELOPMENT_KEY

    with pytest.raises(ValidationError, match="development key"):
        production_settings(
            token_encryption_keys=SecretStr(
                f"{Fernet.generate_key().decode()},{DEVELOPMENT_KEY.decode()}"
            )
        )


def test_development_takes_placeholders_and_the_development_bootstrap_key() -> None:
    dev_key = f"mcik_{DEVELOPMENT_BOOTSTRAP_KEY_ID}_{secrets.token_urlsafe(32)}"
    settings = Settings(
        environment="development",
        service_token_secret=SecretStr("changeme"),
        bootstrap_admin_key=SecretStr(dev_key),
    )
    assert settings.bootstrap_admin_key is not None
    assert settings.bootstrap_admin_key.get_secret_value() == dev_key
    # A compose file's `changeme` default stands for "no bootstrap key" in development.
    assert Settings(bootstrap_admin_key=SecretStr("changeme")).bootstrap_admin_key is None


async def test_the_bootstrap_key_lives_only_while_it_is_configured(
    make_auth: Callable[..., Any],
) -> None:
    first = f"mcik_boot1_{secrets.token_urlsafe(32)}"
    second = f"mcik_boot2_{secrets.token_urlsafe(32)}"
    third = f"mcik_boot3_{secrets.token_urlsafe(32)}"

    async with running_app(make_auth(bootstrap_admin_key=SecretStr(first))[1]) as http:
        assert (await http.get("/api-keys", headers=bearer(first))).status_code == 200
        created = await http.post(
            "/api-keys", json={"name": "real admin", "role": "admin"}, headers=bearer(first)
        )
        real_admin = bearer(created.json()["api_key"])
        reserved = await http.post(
            "/api-keys", json={"name": "bootstrap", "role": "admin"}, headers=bearer(first)
        )
        assert reserved.status_code == 422
        assert reserved.json()["error"]["code"] == "reserved_name"

    # Restarted without the setting: the bootstrap key is revoked, the real admin key is not.
    async with running_app(make_auth(bootstrap_admin_key=None)[1]) as http:
        gone = await http.get("/api-keys", headers=bearer(first))
        assert gone.status_code == 401
        listed = await http.get("/api-keys", headers=real_admin)
        assert listed.status_code == 200
        assert [
            k["revoked_at"] is not None for k in listed.json()["items"] if k["name"] == "bootstrap"
        ] == [True]

    # A revoked key stays revoked even if configured again: a new key is needed.
    async with running_app(make_auth(bootstrap_admin_key=SecretStr(first))[1]) as http:
        assert (await http.get("/api-keys", headers=bearer(first))).status_code == 401
    async with running_app(make_auth(bootstrap_admin_key=SecretStr(second))[1]) as http:
        assert (await http.get("/api-keys", headers=bearer(second))).status_code == 200
    # Replaced by another: the replaced one stops working at that start.
    async with running_app(make_auth(bootstrap_admin_key=SecretStr(third))[1]) as http:
        assert (await http.get("/api-keys", headers=bearer(second))).status_code == 401
        assert (await http.get("/api-keys", headers=bearer(third))).status_code == 200


async def test_only_configured_redirect_uris_go_to_allegro(
    make_auth: Callable[..., Any],
) -> None:
    other_callback = "https://mci.example.com/accounts/oauth/callback"
    settings, app = make_auth(oauth_allowed_redirect_uris=other_callback)
    assert settings.redirect_uris == [CALLBACK, other_callback]
    async with running_app(app) as http:
        http.headers.update(bearer(ADMIN_KEY))
        account_id = (await http.post("/accounts", json={"alias": "redirects"})).json()["id"]
        start = f"/accounts/{account_id}/connect/authorization-code"

        for foreign in (
            "https://attacker.example/steal",
            CALLBACK.replace("127.0.0.1", "127.0.0.1.evil.example"),
            CALLBACK + "?x=1",
        ):
            refused = await http.post(start, json={"redirect_uri": foreign})
            assert refused.status_code == 422, refused.text
            error = refused.json()["error"]
            assert error["code"] == "redirect_uri_not_allowed"
            assert error["details"][0]["field"] == "redirect_uri"

        for allowed, body in ((CALLBACK, None), (other_callback, {"redirect_uri": other_callback})):
            started = await http.post(start, json=body)
            assert started.status_code == 200, started.text
            query = parse_qs(urlsplit(started.json()["authorize_url"]).query)
            assert query["redirect_uri"] == [allowed]


async def test_api_docs_need_a_viewer_in_production_and_are_open_in_development(
    make_auth: Callable[..., Any],
) -> None:
    async with running_app(make_auth()[1]) as http:
        assert (await http.get("/openapi.json")).status_code == 200
        assert (await http.get("/docs")).status_code == 200

    bootstrap = f"mcik_prod_{secrets.token_urlsafe(32)}"
    settings, app = make_auth(
        environment="production",
        service_token_secret=SecretStr(secrets.token_hex(32)),
        bootstrap_admin_key=SecretStr(bootstrap),
    )
    async with running_app(app) as http:
        for path in ("/openapi.json", "/docs"):
            anonymous = await http.get(path)
            assert anonymous.status_code == 401, path
            assert anonymous.json()["error"]["code"] == "unauthenticated"
            assert "paths" not in anonymous.text
        viewer_key = (
            await http.post(
                "/api-keys", json={"name": "docs", "role": "viewer"}, headers=bearer(bootstrap)
            )
        ).json()["api_key"]
        spec = await http.get("/openapi.json", headers=bearer(viewer_key))
        assert spec.status_code == 200
        assert "/accounts" in spec.json()["paths"]
        page = await http.get("/docs", headers=bearer(viewer_key))
        assert page.status_code == 200
        assert "swagger-ui" in page.text and '"/accounts"' in page.text
        assert (await http.get("/redoc", headers=bearer(viewer_key))).status_code == 404
        service = bearer(
            issue_service_token(settings.service_token_secret.get_secret_value(), "offers")
        )
        assert (await http.get("/openapi.json", headers=service)).status_code == 403


async def test_bad_bearers_on_auth_are_401(auth: AuthUnderTest) -> None:
    for credential in ("mci1.ü.x".encode(), "mcik_ü_x".encode(), b"mcisvc1.a.b"):
        response = await auth.http.get(
            "/accounts", headers={b"Authorization": b"Bearer " + credential}
        )
        assert response.status_code == 401, credential
        assert response.json()["error"]["code"] == "invalid_token"


@pytest.mark.parametrize("variable", ["AUTH_TOKEN_ENCRYPTION_KEYS", "AUTH_TOKEN_ENCRYPTION_KEY"])
def test_the_encryption_keys_are_read_under_both_names_the_deploy_files_use(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(variable, key)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("MCI_SERVICE_TOKEN_SECRET", secrets.token_hex(32))
    monkeypatch.setenv("ALLEGRO_CLIENT_SECRET", secrets.token_urlsafe(48))
    assert Settings().token_encryption_keys.get_secret_value() == key
    monkeypatch.setenv(variable, "changeme")
    with pytest.raises(ValidationError, match="token_encryption_keys is a placeholder"):
        Settings()


async def test_a_bootstrap_key_never_takes_over_an_issued_key_of_the_same_id(
    make_auth: Callable[..., Any],
) -> None:
    async with running_app(make_auth()[1]) as http:
        issued = (
            await http.post(
                "/api-keys", json={"name": "ops", "role": "viewer"}, headers=bearer(ADMIN_KEY)
            )
        ).json()
    impostor = f"mcik_{issued['id']}_{secrets.token_urlsafe(32)}"
    async with running_app(make_auth(bootstrap_admin_key=SecretStr(impostor))[1]) as http:
        assert (await http.get("/api-keys", headers=bearer(impostor))).status_code == 401
        assert (await http.get("/accounts", headers=bearer(issued["api_key"]))).status_code == 200
