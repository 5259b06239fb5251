"""Grafana: the provisioning and the dashboard's structure. That its queries read only series a real
Prometheus saw is checked in test_live_prometheus.py."""

from __future__ import annotations

import json

import yaml

from mci_testing.deploy import (
    DEPLOY,
)


def test_grafana_provisioning_and_dashboard() -> None:
    grafana = DEPLOY / "grafana"
    datasources = yaml.safe_load(
        (grafana / "provisioning" / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )
    source = datasources["datasources"][0]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(
        (grafana / "provisioning" / "dashboards" / "mci.yml").read_text(encoding="utf-8")
    )
    assert providers["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
    dashboard = json.loads((grafana / "dashboards" / "mci-overview.json").read_text("utf-8"))
    exprs = " ".join(
        t["expr"] for p in dashboard["panels"] if p["type"] != "row" for t in p["targets"]
    )
    for metric in (
        "mci_messages_consumed_total",
        "mci_messages_published_total",
        "mci_message_handler_duration_seconds_bucket",
        "mci_outbox_pending_messages",
        "mci_outbox_oldest_pending_age_seconds",
        "mci_dlq_messages",
        "mci_allegro_requests_total",
        "mci_allegro_rate_limited_total",
        "mci_allegro_limiter_wait_seconds",
        "mci_http_requests_total",
        "mci_catalog_import_rows_total",
        "mci_orders_handed_off_total",
        "mci_supplier_orders_total",
        "mci_supplier_wallet_balance",
        "mci_supplier_orders_waiting_wallet",
        "mci_offers_offers",
        "mci_offers_published_total",
        "mci_offers_steps_total",
        "allegro_emulator_requests_total",
        "bigbuy_emulator_too_many_requests_total",
    ):
        assert metric in exprs, metric
    assert "histogram_quantile(0.95" in exprs
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == source["uid"]
