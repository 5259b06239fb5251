"""The deployment and operations guides: the configuration reference is generated from the settings
classes and kept current, and the guides keep the sections operators rely on."""

from __future__ import annotations

from types import ModuleType

import pytest

from mci_testing.deploy import (
    APP_SERVICES,
    DEPLOY,
    ROOT,
    TOPOLOGY,
)


def sections(markdown: str) -> set[str]:
    """The guide's headings (any level), as its reader's table of contents sees them."""
    return {
        line.lstrip("#").strip()
        for line in markdown.splitlines()
        if line.startswith("#") and line.lstrip("#").startswith(" ")
    }


def test_readme_covers_compose_k8s_policies_and_secret_rotation() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert {
        "Running with docker compose",
        "RabbitMQ topology and policies",
        "Queue arguments vs policies: which wins",
        "Kubernetes",
        "Monitoring",
        "Rotating secrets",
    } <= sections(readme)
    # The commands an operator runs, as they are typed.
    for command in (
        "docker compose up --build -d",
        "--profile monitoring",
        "kubectl apply -k",
        "rollout restart",
    ):
        assert command in readme, command
    for queue in TOPOLOGY:
        assert f"`{queue}`" in readme, queue


def test_operations_guide_config_reference_is_current(config_reference: ModuleType) -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert config_reference.updated(guide) == guide, "run python deploy/config_reference.py"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_config_reference_names_every_setting(config_reference: ModuleType, service: str) -> None:
    """Each field of the service's settings class is in the reference, under the name the service
    reads, with its unprefixed fallback where it has one."""
    text = config_reference.render()
    for variable in config_reference.variables(service):
        generic = f"`<SERVICE>_{variable.field.upper()}`"
        assert generic in text or all(f"`{n}`" in text for n in variable.names), variable
        for fallback in variable.fallbacks:
            assert f"`{fallback}`" in text, (variable.field, fallback)


def test_config_reference_names_every_console_setting(config_reference: ModuleType) -> None:
    """The console's settings are in the reference too, under the names it reads."""
    text = config_reference.render()
    names = config_reference.env_names("console")
    assert "CONSOLE_HTTP_PORT" in names and "CONSOLE_ORDERS_URL" in names
    assert "DATABASE_ADMIN_URL" not in names
    for name in names:
        assert f"`{name}`" in text, name


def test_config_reference_finds_fallbacks_by_running_the_defaults(
    config_reference: ModuleType,
) -> None:
    by_field = {v.field: v for v in config_reference.variables("auth")}
    assert by_field["environment"].fallbacks == ("ENVIRONMENT",)
    assert by_field["service_token_secret"].fallbacks == ("MCI_SERVICE_TOKEN_SECRET",)
    assert by_field["allegro_client_secret"].fallbacks == ("ALLEGRO_CLIENT_SECRET",)
    assert by_field["token_encryption_keys"].names[0] == "AUTH_TOKEN_ENCRYPTION_KEYS"
    assert by_field["token_encryption_keys"].secret
    assert by_field["http_host"].fallbacks == ()


def test_operations_guide_covers_the_issue() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert {
        "Scaling out",
        "Backup and restore",
        "Replaying the dead-letter queue",
        "Rotating secrets",
        "Connecting to Allegro's sandbox and production",
        "Connecting to BigBuy's production API",
        "Configuration reference",
    } <= sections(guide)
    # What each section must name: the mechanisms, commands, endpoints, settings and alerts.
    for needle in (
        "SKIP LOCKED",
        "Competing consumers",
        "RabbitMQ cluster",
        "KEDA",
        "pg_dump",
        "pg_restore",
        "/admin/dlq/catalog.orders/replay",
        "AUTH_TOKEN_ENCRYPTION_KEYS",
        "/admin/token-keys/rotate",
        "MCI_SERVICE_TOKEN_SECRET",
        "apps.developer.allegro.pl.allegrosandbox.pl",
        "AUTH_OAUTH_REDIRECT_URI",
        "_ALLEGRO_CLIENT_SHARE",
        "https://api.bigbuy.eu/rest",
        "user/auth/status.json",
        "BIGBUY_API_KEY",
        "mci_bigbuy",
        "/admin/dlq/bigbuy.orders/replay",
        "MciSupplierOrdersWaitingForWallet",
    ):
        assert needle in guide, needle
