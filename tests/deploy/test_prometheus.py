"""Prometheus: both scrape configurations (compose and Kubernetes) and the alert rules, checked by
`promtool check` and proved by `promtool test rules`; every label value a rule names is one the code
emits. The live scrape is in test_live_prometheus.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mci_testing.deploy import (
    BACKENDS,
    DEPLOY,
    EMULATOR_PORT,
    ROOT,
    run,
    tool,
)


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def scrape_targets(prometheus: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """target -> (job, metrics path)."""
    targets = {}
    for job in prometheus["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                targets[target] = (job["job_name"], job.get("metrics_path", "/metrics"))
    return targets


def test_prometheus_scrapes_every_service_and_the_emulator(prometheus: dict[str, Any]) -> None:
    targets = scrape_targets(prometheus)
    for name, port in [*BACKENDS.items(), ("emulator", EMULATOR_PORT)]:
        assert f"{name}:{port}" in targets, name
        assert targets[f"{name}:{port}"][1] == "/metrics"
    # MciServiceDown watches job "mci": every service and the connector are in it.
    assert {targets[f"{name}:{port}"][0] for name, port in BACKENDS.items()} == {"mci"}


def test_prometheus_loads_the_alert_rules(prometheus: dict[str, Any]) -> None:
    rule_files = prometheus["rule_files"]
    assert [Path(f).name for f in rule_files] == ["alerts.yml"]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    exprs = {r["alert"]: str(r["expr"]) for g in rules["groups"] for r in g["rules"]}
    assert any("mci_dlq_messages" in e and "> 0" in e for e in exprs.values())
    assert any("mci_outbox_oldest_pending_age_seconds" in e and "> 60" in e for e in exprs.values())
    assert any("mci_allegro_rate_limited_total" in e for e in exprs.values())
    assert any(re.search(r"\bup\{.*\} == 0", e) for e in exprs.values())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert rule["annotations"]["summary"]


PROMETHEUS = DEPLOY / "prometheus"


# The list: DLQ not empty, outbox age, 429s, token refresh failures, consumer down,
# publication stalled, wallet too low (its balance, and orders BigBuy already refused for it);
# plus the broker's DLQ view and a service down.
REQUIRED_ALERTS = {
    "MciDeadLetterQueueNotEmpty",
    "MciDeadLetterQueueNotEmptyBroker",
    "MciOutboxStuck",
    "MciAllegroRateLimited",
    "MciTokenRefreshFailed",
    "MciConsumerDown",
    "MciPublicationStalled",
    "MciOfferInputStalled",
    "MciSupplierWalletLow",
    "MciSupplierOrdersWaitingForWallet",
    "MciServiceDown",
}


def alert_names(path: Path) -> list[str]:
    rules = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_rules() -> None:
    result = run(tool("promtool"), "check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(alert_names(PROMETHEUS / "alerts.yml"))
    assert f"SUCCESS: {count} rules found" in result.stdout


def test_promtool_check_config_with_its_rules() -> None:
    result = run(tool("promtool"), "check", "config", "prometheus.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_every_required_alert_exists_and_fires_in_a_unit_test() -> None:
    alerts = alert_names(PROMETHEUS / "alerts.yml")
    assert set(alerts) == REQUIRED_ALERTS
    cases = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text(encoding="utf-8"))
    fires: set[str] = set()
    quiet: set[str] = set()
    for test in cases["tests"]:
        for case in test["alert_rule_test"]:
            (fires if case["exp_alerts"] else quiet).add(case["alertname"])
    assert fires == REQUIRED_ALERTS, "an alert with no case where it fires"
    assert quiet == REQUIRED_ALERTS, "an alert with no case where it stays quiet"


def test_promtool_test_rules() -> None:
    result = run(tool("promtool"), "test", "rules", "alerts_test.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_catches_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests have teeth: an outbox threshold of 10 minutes instead of 1 fails them."""
    rules = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    broken = rules.replace("(mci_outbox_oldest_pending_age_seconds) > 60", "(...) > 600")
    broken = broken.replace("(...)", "(mci_outbox_oldest_pending_age_seconds)")
    assert broken != rules
    (tmp_path / "alerts.yml").write_text(broken, encoding="utf-8")
    shutil.copy(PROMETHEUS / "alerts_test.yml", tmp_path / "alerts_test.yml")
    result = run(tool("promtool"), "test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "MciOutboxStuck" in result.stdout + result.stderr


def test_alert_label_values_are_ones_the_code_emits() -> None:
    """A rule on `result="acked"` when the consumer counts `handled` never matches: every
    `result` value an alert names for the messaging counters is one shared/ emits."""
    source = "\n".join(
        path.read_text(encoding="utf-8")
        for path in (ROOT / "shared/src/shared/messaging").glob("*.py")
    )
    rules = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    used = re.findall(r'mci_messages_(?:consumed|published)_total\{[^}]*result=~?"([^"]+)"', rules)
    assert used
    for values in used:
        for value in values.split("|"):
            assert f'"{value}"' in source, value


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-k8s.yml"])
def test_both_scrape_configs_collect_the_broker_series_the_alerts_use(config: str) -> None:
    """MciConsumerDown and MciOfferInputStalled read rabbitmq_detailed_queue_consumers and
    _messages_ready: families queue_consumer_count and queue_coarse_metrics."""
    rules = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    assert "rabbitmq_detailed_queue_consumers" in rules
    assert "rabbitmq_detailed_queue_messages_ready" in rules
    data = yaml.safe_load((PROMETHEUS / config).read_text(encoding="utf-8"))
    (job,) = [j for j in data["scrape_configs"] if j["job_name"] == "rabbitmq"]
    assert job["metrics_path"] == "/metrics/detailed"
    assert set(job["params"]["family"]) == {"queue_coarse_metrics", "queue_consumer_count"}


# Labels that would make one series per item: the issue forbids per-SKU or per-order series.
PER_ITEM_LABELS = {"sku", "ean", "order_id", "offer_id", "product_id", "account_id", "path"}


EXPOSITION = """
import auth.main, bigbuy_connector.main, catalog.main, offers.main, orders.main, pricing.main
import json, sys
from prometheus_client import REGISTRY, generate_latest
collectors = list(REGISTRY._collector_to_names)
labels = sorted({name for c in collectors for name in getattr(c, "_labelnames", ())})
sys.stderr.write(json.dumps(labels))
sys.stdout.write(generate_latest().decode())
"""


def test_every_services_metrics_follow_prometheus_naming() -> None:
    """Every metric the services and the connector define (all of them imported into one registry,
    as their composition roots import them), linted by `promtool check metrics`: counters end in
    `_total`, units are base units; and no metric has a per-item label."""
    exported = subprocess.run(
        [sys.executable, "-c", EXPOSITION],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
    )
    families = re.findall(r"^# TYPE (mci_\w+) ", exported.stdout, re.M)
    assert {"mci_supplier_orders_total", "mci_orders_handed_off_total"} <= set(families)
    assert "mci_offers_steps_total" in families
    result = run(tool("promtool"), "check", "metrics", stdin=exported.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    labels = set(json.loads(exported.stderr.strip().splitlines()[-1]))
    assert not labels & PER_ITEM_LABELS, labels & PER_ITEM_LABELS


def test_promtool_check_metrics_rejects_bad_names() -> None:
    bad = (
        "# HELP mci_sync_latency_milliseconds Time.\n"
        "# TYPE mci_sync_latency_milliseconds counter\n"
        "mci_sync_latency_milliseconds 1\n"
    )
    result = run(tool("promtool"), "check", "metrics", stdin=bad)
    assert result.returncode != 0
    assert '"_total" suffix' in result.stdout + result.stderr
    assert 'base unit "seconds"' in result.stdout + result.stderr
