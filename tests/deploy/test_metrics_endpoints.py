"""`/metrics` of the processes besides the services: the console (HTTP requests and latency by
route template) and both emulators (requests by operation and status, 429s sent), each served
over real HTTP, read in Prometheus' text format, linted by `promtool check metrics`, and scraped
by both Prometheus configurations. The live scrape of the emulators is in
test_live_prometheus.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mci_console.app import create_app as console_app
from mci_console.settings import ConsoleSettings
from mci_testing.bigbuy import BigBuyEmulatorHandle, start_bigbuy_emulator
from mci_testing.deploy import (
    BIGBUY_EMULATOR_PORT,
    CONSOLE_PORT,
    DEPLOY,
    EMULATOR_PORT,
    run,
    tool,
)
from mci_testing.emulator import EmulatorHandle, start_emulator

ALLEGRO_MEDIA = "application/vnd.allegro.public.v1+json"


def samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def promtool_accepts(exposition: str) -> None:
    result = run(tool("promtool"), "check", "metrics", stdin=exposition)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def allegro() -> Iterator[EmulatorHandle]:
    handle = start_emulator(catalogue_size=200)
    yield handle
    handle.server.should_exit = True


@pytest.fixture
def bigbuy() -> Iterator[BigBuyEmulatorHandle]:
    handle = start_bigbuy_emulator(catalogue_size=200)
    yield handle
    handle.server.should_exit = True


def test_the_allegro_emulator_counts_requests_by_operation_and_the_429s_it_sends(
    allegro: EmulatorHandle,
) -> None:
    with httpx.Client(base_url=allegro.url, headers={"Accept": ALLEGRO_MEDIA}, timeout=30) as api:
        # No token: answered 401 by the route, counted under its template, not the offer's id.
        assert api.get("/sale/product-offers/7770001").status_code == 401
        allegro.admin("PUT", "/faults", {"forced429": 2})
        assert api.get("/sale/product-offers/7770002").status_code == 429
        assert api.get("/sale/offers").status_code == 429
        allegro.admin("DELETE", "/faults")
        response = api.get("/metrics", headers={"Accept": "text/plain"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    promtool_accepts(response.text)
    found = samples(response.text)
    requests = "allegro_emulator_requests_total"
    assert (
        value(
            found, requests, method="GET", operation="/sale/product-offers/{offerId}", status="401"
        )
        == 1
    )
    assert value(found, "allegro_emulator_too_many_requests_total") == 2
    assert "7770001" not in response.text  # no series per offer
    # /metrics itself is not an Allegro request (no media-type check, not counted)
    assert "/metrics" not in response.text


def test_the_bigbuy_emulator_counts_requests_by_operation_and_the_429s_it_sends(
    bigbuy: BigBuyEmulatorHandle,
) -> None:
    bigbuy.admin("POST", "/errors", {"path": "catalog/product/", "status": 429, "body": "Slow"})
    headers = {"Authorization": f"Bearer {bigbuy.key}"}
    with httpx.Client(base_url=bigbuy.url, headers=headers, timeout=30) as api:
        assert api.get("/rest/catalog/product/100001.json").status_code == 429  # forced
        assert api.get("/rest/catalog/categories.json").status_code == 200
        response = api.get("/metrics")
    assert response.status_code == 200
    promtool_accepts(response.text)
    found = samples(response.text)
    requests = "bigbuy_emulator_requests_total"
    assert value(found, requests, operation="catalog/product/{}", status="429") == 1
    assert value(found, requests, operation="catalog/categories", status="200") == 1
    assert value(found, "bigbuy_emulator_too_many_requests_total") == 1
    assert "100001" not in response.text


async def test_the_console_serves_its_http_metrics_in_prometheus_format() -> None:
    """What the console's /metrics serves passes promtool (its counting: console/tests)."""
    transport = httpx.ASGITransport(app=console_app(ConsoleSettings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
        assert (await http.get("/health")).status_code == 200
        response = await http.get("/metrics")
    assert response.status_code == 200
    promtool_accepts(response.text)
    found = samples(response.text)
    assert value(found, "mci_http_requests_total", method="GET", route="/health", status="200")


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-k8s.yml"])
def test_both_prometheus_configs_scrape_the_console_and_the_emulators(config: str) -> None:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus" / config).read_text())
    jobs = {job["job_name"]: job for job in data["scrape_configs"]}
    assert {"mci", "console", "emulators"} <= set(jobs)
    if config == "prometheus.yml":
        targets = {
            job: {t for static in jobs[job]["static_configs"] for t in static["targets"]}
            for job in ("console", "emulators")
        }
        assert targets == {
            "console": {f"console:{CONSOLE_PORT}"},
            "emulators": {f"emulator:{EMULATOR_PORT}", f"bigbuy-emulator:{BIGBUY_EMULATOR_PORT}"},
        }
    else:
        kept = {
            job: next(
                r["regex"]
                for r in jobs[job]["relabel_configs"]
                if r.get("action") == "keep"
                and r["source_labels"]
                == ["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
            )
            for job in ("console", "emulators")
        }
        assert kept == {"console": "console", "emulators": "emulator"}
