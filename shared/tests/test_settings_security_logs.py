from __future__ import annotations

import json
import secrets
import time
from typing import ClassVar

import pytest
import structlog
from pydantic import SecretStr, ValidationError

from shared.logs import configure_logging, correlation_scope, get_logger
from shared.security import InvalidToken, issue_token, verify_token
from shared.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    service_name: ClassVar[str] = "demo"
    default_http_port: ClassVar[int] = 8999
    model_config = ServiceSettings.model_config | {"env_prefix": "DEMO_"}

    allegro_client_secret: SecretStr = SecretStr("changeme")


def test_development_accepts_placeholders_and_derives_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.setenv("DATABASE_ADMIN_URL", "postgresql://postgres@db.example:5433/postgres")
    settings = DemoSettings()
    assert settings.environment == "development"
    assert settings.database_url == "postgresql+asyncpg://postgres@db.example:5433/mci_demo"
    assert settings.http_port == 8999


def test_production_refuses_secrets_left_at_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("MCI_SERVICE_TOKEN_SECRET", secrets.token_hex(32))
    with pytest.raises(ValidationError, match="allegro_client_secret is a placeholder"):
        DemoSettings()
    monkeypatch.setenv("DEMO_ALLEGRO_CLIENT_SECRET", "s3cr3t-from-the-vault")
    assert DemoSettings().environment == "production"


@pytest.mark.parametrize(
    ("weak", "why"),
    [
        ("password", "placeholder"),
        ("changeme", "placeholder"),
        ("my-production-password-is-long-enough-now", "placeholder word 'password'"),
        # A fixed id: every pytest-xdist worker must collect the same test names.
        pytest.param(secrets.token_hex(8), "shorter than 32 bytes", id="random-8-bytes"),
        ("a" * 64, "too repetitive"),
        ("abab" * 16, "too repetitive"),
    ],
)
@pytest.mark.parametrize("environment", ["production", "test"])
def test_a_weak_signing_secret_stops_the_service_outside_development(
    monkeypatch: pytest.MonkeyPatch, weak: str, why: str, environment: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("DEMO_ALLEGRO_CLIENT_SECRET", "s3cr3t-from-the-vault")
    monkeypatch.setenv("MCI_SERVICE_TOKEN_SECRET", weak)
    with pytest.raises(ValidationError, match=f"service_token_secret .*{why}") as refused:
        DemoSettings()
    assert weak not in str(refused.value)  # the message names the setting, never its value
    # The same value is fine for development, where nothing real is at stake.
    monkeypatch.setenv("ENVIRONMENT", "development")
    assert DemoSettings().service_token_secret.get_secret_value() == weak


@pytest.mark.parametrize(
    "strong",
    [secrets.token_hex(32), secrets.token_urlsafe(32), secrets.token_hex(16)],
    ids=["token_hex-32", "token_urlsafe-32", "token_hex-16"],  # the same on every xdist worker
)
def test_generated_secrets_of_32_bytes_are_accepted_in_production(
    monkeypatch: pytest.MonkeyPatch, strong: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DEMO_ALLEGRO_CLIENT_SECRET", "s3cr3t-from-the-vault")
    monkeypatch.setenv("MCI_SERVICE_TOKEN_SECRET", strong)
    assert DemoSettings().service_token_secret.get_secret_value() == strong


def test_a_prefixed_variable_overrides_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMQP_URL", "amqp://shared@broker/")
    monkeypatch.setenv("DEMO_AMQP_URL", "amqp://mine@broker/")
    assert DemoSettings().amqp_url == "amqp://mine@broker/"
    monkeypatch.delenv("DEMO_AMQP_URL")
    assert DemoSettings().amqp_url == "amqp://shared@broker/"


def test_public_settings_hide_passwords_and_secrets() -> None:
    settings = DemoSettings(
        amqp_url="amqp://user:hunter2@broker:5672/",
        database_url="postgresql+asyncpg://u:pw123@db/x",
    )
    shown = json.dumps(settings.public_dict())
    assert "hunter2" not in shown
    assert "pw123" not in shown
    assert "changeme" not in shown


def test_tokens_verify_and_refuse_tampering_expiry_and_other_secrets() -> None:
    token = issue_token("k1", "ops@example", "operator")
    principal = verify_token("k1", token)
    assert (principal.subject, principal.role) == ("ops@example", "operator")
    with pytest.raises(InvalidToken):
        verify_token("k2", token)
    prefix, body, sig = token.split(".")
    with pytest.raises(InvalidToken):
        verify_token("k1", f"{prefix}.{body}x.{sig}")
    expired = issue_token("k1", "ops", "admin", ttl_seconds=-1)
    with pytest.raises(InvalidToken, match="expired"):
        verify_token("k1", expired)
    assert verify_token("k1", issue_token("k1", "x", "viewer")).expires_at > time.time()


def test_logs_are_json_with_the_correlation_id_and_never_a_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("demo", json=True)
    with correlation_scope("corr-123"):
        get_logger().info("token_refreshed", access_token="eyJ.secret", refresh_token="r-1")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["correlation_id"] == "corr-123"
    assert line["service"] == "demo"
    assert line["access_token"] == "[redacted]"
    assert "eyJ.secret" not in json.dumps(line)
    structlog.reset_defaults()
