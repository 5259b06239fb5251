"""Offer images on the emulator over HTTP: the supplier's image URLs uploaded to Allegro
(`POST /sale/images`) and sent with the create in the catalogue's order, an image two offers
share uploaded once, an upload Allegro refuses left out (and said in the history) without
blocking the offer and not tried again by the next offers until its refusal is old, a transient
upload failure retried (and not remembered), a new cover sent as a PATCH, the description's
images sent as Allegro-hosted ones; the operator lists the refused URLs and forgets the ones
the supplier fixed, and the offers that left one out get them. Two replicas on real PostgreSQL
and RabbitMQ."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from mci_testing.emulator import EmulatorHandle
from mci_testing.fixtures import MakeAmqpUrl, MakeDatabase
from mci_testing.infra import wait_until

from .test_service import Seller, Service, emulator, running_service

__all__ = ["emulator"]  # the module's emulator fixture, as test_service.py makes it

UPLOADED = ("POST", "/sale/images", 201)
PATCH = ("PATCH", "/sale/product-offers/{offerId}", 200)
CATALOGUE_LOOK_UP = ("GET", "/sale/products", 200)


@pytest.fixture(scope="module")
async def service(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle
) -> AsyncIterator[Service]:
    async with running_service(make_database, amqp_url, emulator) as found:
        yield found


def supplier_images(count: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"https://cdn.supplier.example/{tag}/{n}.jpg" for n in range(1, count + 1)]


def hosted(service: Service, seller: Seller) -> dict[str, list[str]]:
    """The seller's uploads on the emulator: source URL -> every location uploaded for it."""
    state = service.emulator.admin("GET", f"/state?login={seller.login}")["sellers"][0]
    found: dict[str, list[str]] = {}
    for image in state["images"]:
        found.setdefault(image["source"], []).append(image["location"])
    return found


def images_on_allegro(service: Service, seller: Seller, sku: str) -> list[str]:
    [listed] = service.on_allegro(seller, sku)
    with seller.allegro(service.emulator) as api:
        offer = api.get(f"/sale/product-offers/{listed['id']}").json()
    found: list[str] = offer["images"]
    return found


def history_notes(offer: dict[str, Any], code: str) -> list[str]:
    return [
        h["reason"]["message"]
        for h in offer["history"]
        if h["reason"] and h["reason"].get("code") == code
    ]


def unavailable_answers(service: Service) -> int:
    """The 503s the emulator answered. A fault answers before routing: its row has no
    operation, only its status."""
    rows = service.emulator.admin("GET", "/counters")["requests"]
    return sum(r["count"] for r in rows if r["status"] == 503)


async def test_the_suppliers_images_are_uploaded_and_sent_cover_first(service: Service) -> None:
    seller = await service.ready_seller()
    looked_up = service.count(*CATALOGUE_LOOK_UP)
    images = supplier_images(3)
    sku = await service.send(seller.account, {**service.row(), "images": images})
    offer = await service.wait_state(seller.account, sku, "active")
    # Its images went up: Allegro's catalogue product is not read for images of its own.
    assert service.count(*CATALOGUE_LOOK_UP) == looked_up
    uploads = hosted(service, seller)
    assert all(len(uploads[url]) == 1 for url in images)
    assert images_on_allegro(service, seller, sku) == [uploads[url][0] for url in images]
    assert offer["sent"]["images"] == images
    # Allegro keeps them now that an offer shows them.
    state = service.emulator.admin("GET", f"/state?login={seller.login}")["sellers"][0]
    assert all(i["used"] for i in state["images"])


async def test_an_image_two_offers_share_is_uploaded_once(service: Service) -> None:
    seller = await service.ready_seller()
    shared, first_own, second_own = supplier_images(3)
    first = await service.send(seller.account, {**service.row(), "images": [shared, first_own]})
    await service.wait_state(seller.account, first, "active")
    uploads_before = service.count(*UPLOADED)
    second = await service.send(seller.account, {**service.row(), "images": [shared, second_own]})
    await service.wait_state(seller.account, second, "active")
    # Only the second offer's own image went up; the shared one's location was reused.
    assert service.count(*UPLOADED) == uploads_before + 1
    uploads = hosted(service, seller)
    assert len(uploads[shared]) == 1
    wanted = [uploads[shared][0], uploads[second_own][0]]
    assert images_on_allegro(service, seller, second) == wanted
    assert images_on_allegro(service, seller, first)[0] == uploads[shared][0]


async def test_a_refused_upload_leaves_its_image_out_and_the_offer_goes_on(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    refused, kept = supplier_images(2)
    service.emulator.admin("PUT", "/images/refused", {"urls": [refused]})
    try:
        sku = await service.send(seller.account, {**service.row(), "images": [refused, kept]})
        offer = await service.wait_state(seller.account, sku, "active")
        only = await service.send(seller.account, {**service.row(), "images": [refused]})
        alone = await service.wait_state(seller.account, only, "active")
    finally:
        service.emulator.admin("PUT", "/images/refused", {"urls": []})
    uploads = hosted(service, seller)
    assert refused not in uploads
    assert images_on_allegro(service, seller, sku) == uploads[kept]
    [note] = history_notes(offer, "image_not_uploaded")
    assert "1 of 2 images sent" in note and refused in note and "DownloadError" in note
    # Every image refused: the catalogue product (found by its EAN) shows its own.
    shown = images_on_allegro(service, seller, only)
    assert shown and all(url.startswith("https://a.allegroimg.com/") for url in shown)
    assert not set(shown) & {u for locations in uploads.values() for u in locations}
    [note] = history_notes(alone, "image_not_uploaded")
    assert "0 of 1 images sent" in note


async def test_an_upload_allegro_fails_to_answer_is_retried(service: Service) -> None:
    seller = await service.ready_seller()
    images = supplier_images(1)
    failures_before = unavailable_answers(service)
    service.emulator.admin(
        "PUT", "/faults", {"errorShare": 1.0, "errorStatus": 503, "pathPrefix": "/sale/images"}
    )
    try:
        sku = await service.send(seller.account, {**service.row(), "images": images})

        async def refused_once() -> bool:
            return unavailable_answers(service) > failures_before

        await wait_until(refused_once, within=30)
        held = await service.offer(seller.account, sku)
        assert held["state"] in ("checking", "creating") and not service.on_allegro(seller, sku)
    finally:
        service.emulator.admin("DELETE", "/faults")
    await service.wait_state(seller.account, sku, "active")
    assert images_on_allegro(service, seller, sku) == hosted(service, seller)[images[0]]


async def test_a_new_cover_reaches_the_live_offer_as_an_edit(service: Service) -> None:
    seller = await service.ready_seller()
    row = service.row()
    cover, side, new_cover = supplier_images(3)
    sku = await service.send(seller.account, {**row, "images": [cover, side]})
    offer = await service.wait_state(seller.account, sku, "active")
    edits = service.count(*PATCH)
    await service.send(seller.account, {**row, "images": [new_cover, side]}, sku=sku, revision=2)

    async def edited() -> bool:
        uploads = hosted(service, seller)
        wanted = [uploads.get(new_cover, [""])[0], uploads[side][0]]
        return images_on_allegro(service, seller, sku) == wanted

    await wait_until(edited, within=30)
    assert service.count(*PATCH) == edits + 1
    assert len(hosted(service, seller)[side]) == 1  # the side image's upload reused

    async def recorded() -> bool:
        found = await service.offer(seller.account, sku)
        return bool(found["sent"]["images"] == [new_cover, side] and found["next_step"] is None)

    await wait_until(recorded, within=30)
    settled = await service.offer(seller.account, sku)
    assert settled["state"] == "active" and settled["offer_id"] == offer["offer_id"]


def description_on_allegro(service: Service, seller: Seller, sku: str) -> list[dict[str, Any]]:
    [listed] = service.on_allegro(seller, sku)
    with seller.allegro(service.emulator) as api:
        offer = api.get(f"/sale/product-offers/{listed['id']}").json()
    found: list[dict[str, Any]] = offer["description"]["sections"]
    return found


def upload_calls(service: Service) -> int:
    """Every `POST /sale/images` the emulator answered, taken or refused."""
    rows = service.emulator.admin("GET", "/counters")["requests"]
    return sum(r["count"] for r in rows if (r["method"], r["operation"]) == UPLOADED[:2])


async def test_the_descriptions_images_are_sent_as_allegro_hosted_ones(service: Service) -> None:
    seller = await service.ready_seller()
    cover, inside, refused = supplier_images(3)
    text = {"type": "TEXT", "content": "<p>Czajnik</p>"}
    sections = [
        {"items": [text]},
        {"items": [{"type": "IMAGE", "url": cover}]},  # the gallery's cover, uploaded once
        {"items": [{"type": "IMAGE", "url": inside}, text]},
        {"items": [{"type": "IMAGE", "url": refused}]},
    ]
    service.emulator.admin("PUT", "/images/refused", {"urls": [refused]})
    try:
        sku = await service.send(
            seller.account,
            {**service.row(), "images": [cover]},
            description_sections=sections,
        )
        offer = await service.wait_state(seller.account, sku, "active")
    finally:
        service.emulator.admin("PUT", "/images/refused", {"urls": []})
    uploads = hosted(service, seller)
    assert len(uploads[cover]) == 1 and len(uploads[inside]) == 1 and refused not in uploads
    assert images_on_allegro(service, seller, sku) == uploads[cover]
    # The same locations as the gallery's; the refused image's section left out.
    assert description_on_allegro(service, seller, sku) == [
        {"items": [text]},
        {"items": [{"type": "IMAGE", "url": uploads[cover][0]}]},
        {"items": [{"type": "IMAGE", "url": uploads[inside][0]}, text]},
    ]
    [note] = history_notes(offer, "image_not_uploaded")
    assert "1 of 1 images sent, 2 of 3 description images" in note and refused in note
    # Allegro keeps the description's images too now that an offer shows them.
    state = service.emulator.admin("GET", f"/state?login={seller.login}")["sellers"][0]
    assert all(i["used"] for i in state["images"])


async def test_an_image_allegro_refused_is_not_uploaded_again(service: Service) -> None:
    seller = await service.ready_seller()
    refused, first_own, second_own = supplier_images(3)
    service.emulator.admin("PUT", "/images/refused", {"urls": [refused]})
    try:
        first = await service.send(
            seller.account, {**service.row(), "images": [refused, first_own]}
        )
        await service.wait_state(seller.account, first, "active")
    finally:
        # Allegro would take it now: an upload of it would show as one more 201.
        service.emulator.admin("PUT", "/images/refused", {"urls": []})
    calls_before = upload_calls(service)
    second = await service.send(seller.account, {**service.row(), "images": [refused, second_own]})
    offer = await service.wait_state(seller.account, second, "active")
    # Only the second offer's own image went up: the refused one was not tried again.
    assert upload_calls(service) == calls_before + 1
    uploads = hosted(service, seller)
    assert refused not in uploads
    assert images_on_allegro(service, seller, second) == uploads[second_own]
    [note] = history_notes(offer, "image_not_uploaded")
    assert "1 of 2 images sent" in note and refused in note and "DownloadError" in note


async def test_a_transient_upload_failure_is_not_remembered(service: Service) -> None:
    seller = await service.ready_seller()
    [flaky] = supplier_images(1)
    failures_before = unavailable_answers(service)
    service.emulator.admin(
        "PUT", "/faults", {"errorShare": 1.0, "errorStatus": 503, "pathPrefix": "/sale/images"}
    )
    try:
        first = await service.send(seller.account, {**service.row(), "images": [flaky]})

        async def failed_once() -> bool:
            return unavailable_answers(service) > failures_before

        await wait_until(failed_once, within=30)
    finally:
        service.emulator.admin("DELETE", "/faults")
    await service.wait_state(seller.account, first, "active")
    second = await service.send(seller.account, {**service.row(), "images": [flaky]})
    offer = await service.wait_state(seller.account, second, "active")
    uploads = hosted(service, seller)
    assert images_on_allegro(service, seller, second) == uploads[flaky]
    assert not history_notes(offer, "image_not_uploaded")


async def test_a_refused_image_is_tried_again_once_its_refusal_is_old(
    make_database: MakeDatabase, make_amqp_url: MakeAmqpUrl, emulator: EmulatorHandle
) -> None:
    # No wait before a refused URL is tried again: the supplier's fix is picked up at once. A
    # vhost of its own: the module's service would otherwise take this one's messages.
    amqp_url = make_amqp_url("offers-image-retry")
    async with running_service(
        make_database, amqp_url, emulator, image_refusal_retry_seconds=0.0
    ) as service:
        seller = await service.ready_seller()
        [fixed] = supplier_images(1)
        service.emulator.admin("PUT", "/images/refused", {"urls": [fixed]})
        try:
            first = await service.send(seller.account, {**service.row(), "images": [fixed]})
            await service.wait_state(seller.account, first, "active")
        finally:
            service.emulator.admin("PUT", "/images/refused", {"urls": []})
        assert fixed not in hosted(service, seller)
        second = await service.send(seller.account, {**service.row(), "images": [fixed]})
        offer = await service.wait_state(seller.account, second, "active")
        assert images_on_allegro(service, seller, second) == hosted(service, seller)[fixed]
        assert not history_notes(offer, "image_not_uploaded")


async def test_the_operator_sees_refused_images_and_forgets_one_the_supplier_fixed(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    broken, alone, kept = supplier_images(3)
    service.emulator.admin("PUT", "/images/refused", {"urls": [broken, alone]})
    try:
        sku = await service.send(seller.account, {**service.row(), "images": [broken, kept]})
        await service.wait_state(seller.account, sku, "active")
        only = await service.send(seller.account, {**service.row(), "images": [alone]})
        await service.wait_state(seller.account, only, "active")
    finally:
        # The supplier fixed both: Allegro takes them now.
        service.emulator.admin("PUT", "/images/refused", {"urls": []})
    refused_url = f"/accounts/{seller.account}/images/refused"

    first = await service.http.get(refused_url, params={"limit": 1})
    assert first.status_code == 200, first.text
    [one] = first.json()["items"]
    rest = await service.http.get(refused_url, params={"after": first.json()["next"]})
    [two] = rest.json()["items"]
    assert [one["url"], two["url"]] == sorted([broken, alone])
    assert rest.json()["next"] is None
    for item in (one, two):
        assert "DownloadError" in item["reason"]
        refused_at = datetime.fromisoformat(item["refused_at"])
        again = datetime.fromisoformat(item["uploaded_again_from"])
        assert again - refused_at == timedelta(days=7)

    # Bad input: nothing forgotten.
    bodies: list[dict[str, Any]] = [{"urls": []}, {"urls": [""]}, {"url": broken}]
    for body in bodies:
        bad = await service.http.post(f"{refused_url}/forget", json=body)
        assert bad.status_code == 422, bad.text
    assert len((await service.http.get(refused_url)).json()["items"]) == 2

    forgot = await service.http.post(f"{refused_url}/forget", json={"urls": [broken]})
    assert forgot.status_code == 200, forgot.text
    assert forgot.json() == {"forgotten": 1, "urls": [broken], "offers_to_edit": [sku]}
    [left] = (await service.http.get(refused_url)).json()["items"]
    assert left["url"] == alone

    # The offer that left the image out gets it, cover first, as an edit of its gallery.
    async def regalleried() -> bool:
        uploads = hosted(service, seller)
        return broken in uploads and images_on_allegro(service, seller, sku) == [
            uploads[broken][0],
            uploads[kept][0],
        ]

    await wait_until(regalleried, within=30)
    assert alone not in hosted(service, seller)  # still remembered: not tried

    everything = await service.http.post(f"{refused_url}/forget", json={})
    assert everything.json() == {"forgotten": 1, "urls": [alone], "offers_to_edit": [only]}
    assert (await service.http.get(refused_url)).json()["items"] == []

    # The offer that showed the catalogue product's images now shows the supplier's.
    async def supplier_shown() -> bool:
        uploads = hosted(service, seller)
        return alone in uploads and images_on_allegro(service, seller, only) == uploads[alone]

    await wait_until(supplier_shown, within=30)
    nothing = await service.http.post(f"{refused_url}/forget", json={"urls": [broken]})
    assert nothing.json() == {"forgotten": 0, "urls": [], "offers_to_edit": []}
