"""Remaining behaviours: products from a full definition, tax settings, offer-event journal,
snapshots, counters and the command line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from allegro_emulator.config import EmulatorConfig
from allegro_emulator.state import Emulator

from .conftest import Api, Server
from .helpers import SAFETY, create_offer, offer_body


def test_offer_from_full_product_definition_creates_a_proposed_product(
    api: Api, server: Server
) -> None:
    body = offer_body(
        server,
        productSet=[
            {
                "product": {
                    "name": "Zestaw testowy do ogrodu XL",
                    "category": {"id": "1521"},
                    "parameters": [
                        {"id": "225693", "values": ["5901234123457"]},
                        {"id": "248811", "values": ["Marka"]},
                        {"id": "224017", "values": ["OGR-XL-1"]},  # required for 1521 products
                    ],
                    "images": ["https://a.allegroimg.com/original/new/1.jpg"],
                },
                **SAFETY,
            }
        ],
    )
    response = api.post("/sale/product-offers", body)
    assert response.status_code == 201, response.text
    product = response.json()["productSet"][0]["product"]
    assert product["publication"]["status"] == "PROPOSED"
    found = api.get("/sale/products", params={"phrase": "5901234123457", "mode": "GTIN"}).json()
    assert [p["id"] for p in found["products"]] == [product["id"]]


def test_full_definition_needs_an_existing_leaf_category(api: Api, server: Server) -> None:
    product = {
        "name": "Zestaw testowy do ogrodu XL",
        "images": ["https://a.allegroimg.com/x.jpg"],
        "parameters": [{"id": "225693", "values": ["5901234123464"]}],
    }
    for category, code in (("1520", "INVALID_CATEGORY_ID"), ("999999", "CATEGORY_NOT_EXISTS")):
        body = offer_body(
            server, productSet=[{"product": {**product, "category": {"id": category}}}]
        )
        response = api.post("/sale/product-offers", body)
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == code


def test_tax_settings(api: Api) -> None:
    body = api.get("/sale/tax-settings", params={"category.id": "4231", "countryCode": "CZ"}).json()
    assert body["rates"][0]["countryCode"] == "CZ"
    assert any(v["value"] == "21.00" for v in body["rates"][0]["values"])


def test_offer_events_journal(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    api.patch(f"/sale/product-offers/{offer['id']}", {"stock": {"available": 4}})
    events = api.get("/sale/offer-events").json()["offerEvents"]
    types = [e["type"] for e in events if e["offer"]["id"] == offer["id"]]
    assert types[0] == "OFFER_ACTIVATED" and "OFFER_STOCK_CHANGED" in types
    assert all(e["offer"]["external"] == offer["external"] for e in events)
    after = api.get("/sale/offer-events", params={"from": events[0]["id"]}).json()["offerEvents"]
    assert [e["id"] for e in after] == [e["id"] for e in events[1:]]
    server.emu.clock_offset = 25 * 3600  # only the last 24 hours are kept
    try:
        fresh = server.admin.post("/tokens", json={"login": api.login}).json()["access_token"]
        later = api.with_token(fresh)
        assert later.get("/sale/offer-events").json()["offerEvents"] == []
        # An expired id is refused, not read as "from the oldest".
        expired = later.call(
            "GET", "/sale/offer-events", params={"from": events[0]["id"]}, validate="response"
        )
        assert expired.status_code == 400, expired.text
        assert expired.json()["errors"][0]["path"] == "from"
    finally:
        server.emu.clock_offset = 0.0


@pytest.mark.usefixtures("allegro_defaults")
def test_unknown_offer_event_id_is_refused_not_replayed(api: Api, server: Server) -> None:
    create_offer(api, server)
    assert api.get("/sale/offer-events").json()["offerEvents"]
    unknown = api.call(
        "GET", "/sale/offer-events", params={"from": "b2ZmZXItZXZlbnQ6OTk5"}, validate="response"
    )
    assert unknown.status_code == 400, unknown.text
    assert "offerEvents" not in unknown.json()


def test_counters_by_operation_and_status(api: Api, server: Server) -> None:
    server.admin.delete("/counters")
    api.get("/me")
    api.get("/sale/categories/nope")
    rows = server.admin.get("/counters").json()["requests"]
    assert {"method": "GET", "operation": "/me", "status": 200, "count": 1} in rows
    assert any(
        r["operation"] == "/sale/categories/{categoryId}" and r["status"] == 404 for r in rows
    )


def test_snapshot_round_trip(api: Api, server: Server, tmp_path: Path) -> None:
    offer = create_offer(api, server)
    target = tmp_path / "state.pickle"
    assert server.admin.post("/snapshot", json={"path": str(target)}).status_code == 200
    server.emu.config.update({"async_offer_share": 1.0, "operation_seconds": 30})
    pending = api.post("/sale/product-offers", offer_body(server)).json()
    server.admin.post("/snapshot", json={"path": str(target)})
    restored = Emulator(EmulatorConfig(snapshot_path=str(target)))
    assert restored.load_snapshot()
    user = restored.seller_by_login(api.login)
    assert user is not None and offer["id"] in user.offers
    # Work in flight when the snapshot was taken is finished on load, not left hanging.
    assert user.offers[pending["id"]].operation is None
    assert user.offers[pending["id"]].data["publication"]["status"] == "ACTIVE"


def test_admin_state_shows_offers_per_marketplace(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    state = server.admin.get("/state", params={"login": api.login}).json()
    offers = state["sellers"][0]["offers"]
    assert offers[0]["id"] == offer["id"]
    assert set(offers[0]["additionalMarketplaces"]) == {"allegro-cz", "allegro-sk", "allegro-hu"}


def test_command_line_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "allegro_emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0 and "--rest-prefix" in done.stdout


def test_config_from_environment() -> None:
    config = EmulatorConfig.from_env(
        {
            "ALLEGRO_EMULATOR_PORT": "9000",
            "ALLEGRO_EMULATOR_RATE_LIMITS_ENABLED": "false",
            "ALLEGRO_EMULATOR_REST_PREFIX": "/allegro",
        }
    )
    assert (config.port, config.rate_limits_enabled, config.rest_prefix) == (
        9000,
        False,
        "/allegro",
    )
    limited = EmulatorConfig.from_env(
        {"ALLEGRO_EMULATOR_RATE_LIMITS": '{"client": {"limit": 100, "window_seconds": 1}}'}
    )
    assert (limited.rate_limits["client"].limit, limited.rate_limits["client"].window_seconds) == (
        100,
        1,
    )
    assert limited.rate_limits["product-offers:GET"].limit == 3_500  # the others keep defaults


def test_health_and_client_registered_without_redirect_uris(server: Server) -> None:
    import httpx

    assert httpx.get(server.base_url + "/health/live").status_code == 200
    registered = server.admin.post(
        "/clients", json={"clientId": "platform", "clientSecret": "s3cret"}
    )
    assert registered.status_code == 201
    approved = server.admin.post(
        "/oauth/authorize",
        json={
            "clientId": "platform",
            "redirectUri": "http://127.0.0.1:8001/any/callback",
            "login": "demo-seller",
        },
    )
    code = approved.json()["code"]
    tokens = httpx.post(
        server.base_url + "/auth/oauth/token",
        auth=("platform", "s3cret"),
        params={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:8001/any/callback",
        },
    )
    assert tokens.status_code == 200 and tokens.json()["refresh_token"]


def test_oauth_on_its_own_port() -> None:
    import httpx

    from .conftest import _free_port

    rest, oauth = _free_port(), _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "allegro_emulator", "--port", str(rest), "--oauth-port", str(oauth)]
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{oauth}/health/live").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        token = httpx.post(
            f"http://127.0.0.1:{oauth}/auth/oauth/token",
            auth=("demo-client", "demo-secret"),
            params={"grant_type": "client_credentials"},
        )
        assert token.status_code == 200
        categories = httpx.get(
            f"http://127.0.0.1:{rest}/sale/categories",
            headers={
                "Accept": "application/vnd.allegro.public.v1+json",
                "Authorization": f"Bearer {token.json()['access_token']}",
            },
        )
        assert categories.status_code == 200
    finally:
        process.terminate()
        process.wait(10)


def test_admin_catalogue_switch_and_sample(api: Api, server: Server) -> None:
    before = server.admin.get("/catalogue/sample", params={"n": 5}).json()
    assert len(before["rows"]) == 5 and {"ean", "allegroProducts"} <= set(before["rows"][0])
    server.admin.put("/catalogue", json={"seed": 7, "missingShare": 1.0})
    try:
        ean = server.admin.get("/catalogue/sample", params={"n": 1}).json()["rows"][0]["ean"]
        assert (
            api.get("/sale/products", params={"phrase": ean, "mode": "GTIN"}).json()["products"]
            == []
        )
    finally:
        server.admin.put("/catalogue", json={"seed": 42, "missingShare": 0.1})


def test_prune_forgets_expired_events_and_old_commands(api: Api, server: Server) -> None:
    import uuid

    offer = create_offer(api, server)
    command = str(uuid.uuid4())
    api.put(
        f"/sale/offer-quantity-change-commands/{command}",
        {
            "modification": {"changeType": "FIXED", "value": 3},
            "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": [{"id": offer["id"]}]}],
        },
    )
    time.sleep(0.2)
    user = server.emu.seller_by_login(api.login)
    assert user is not None and user.offer_events and user.commands
    server.emu.clock_offset = 8 * 86400
    try:
        server.emu.prune()
        assert user.offer_events == [] and user.commands == {}
        assert api.token not in server.emu.world.access_tokens  # 12 h tokens are long gone
    finally:
        server.emu.clock_offset = 0.0


def test_unreadable_snapshot_starts_fresh(tmp_path: Path) -> None:
    from allegro_emulator.app import create_app

    broken = tmp_path / "broken.pickle"
    broken.write_bytes(b"not a pickle")
    emu = Emulator(EmulatorConfig(snapshot_path=str(broken)))
    create_app(emu.config, emu)
    assert emu.seller_by_login("demo-seller") is not None


def test_snapshot_from_before_new_fields_loads_with_their_defaults(tmp_path: Path) -> None:
    import pickle

    from allegro_emulator.admin import seed_defaults

    old = Emulator(EmulatorConfig())
    seed_defaults(old)
    # As an emulator without GPSR and parameter changes would have pickled it.
    del old.world.__dict__["parameter_required"], old.world.__dict__["planned_requirements"]
    for seller in old.world.sellers.values():
        del seller.__dict__["responsible_producers"], seller.__dict__["responsible_persons"]
    target = tmp_path / "old.pickle"
    target.write_bytes(pickle.dumps(old.world))
    restored = Emulator(EmulatorConfig(snapshot_path=str(target)))
    assert restored.load_snapshot()
    assert restored.world.planned_requirements == {}
    assert all(s.responsible_producers == {} for s in restored.world.sellers.values())
