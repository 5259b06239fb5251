"""Offer images: only images Allegro hosts (uploaded through POST /sale/images, unexpired, or
the catalogue product's own), at most the gallery's 16, uploads counted in the admin state."""

from __future__ import annotations

from typing import Any

from .conftest import Api, Server
from .helpers import create_offer, offer_body, settled


def _upload(api: Api, url: str) -> str:
    response = api.post("/sale/images", {"url": url})
    assert response.status_code == 201, response.text
    location: str = response.json()["location"]
    return location


def _seller_state(server: Server, api: Api) -> dict[str, Any]:
    state = server.admin.get("/state", params={"login": api.login}).json()
    seller: dict[str, Any] = state["sellers"][0]
    return seller


def test_an_offer_shows_uploaded_images_in_order_and_they_stop_expiring(
    api: Api, server: Server
) -> None:
    cover = _upload(api, "https://cdn.supplier.example/SKU-9/cover.jpg")
    side = _upload(api, "https://cdn.supplier.example/SKU-9/side.jpg")
    assert cover != side and cover.startswith("https://a.allegroimg.com/original/")
    offer = create_offer(api, server, images=[cover, side])
    assert offer["images"] == [cover, side]
    seller = _seller_state(server, api)
    assert seller["imageUploads"] == 2
    held = {i["location"]: i for i in seller["images"]}
    assert held[cover]["used"] and held[cover]["expiresAt"] is None
    assert held[cover]["source"] == "https://cdn.supplier.example/SKU-9/cover.jpg"


def test_an_image_allegro_does_not_host_is_refused(api: Api, server: Server) -> None:
    for url in (
        "https://cdn.supplier.example/SKU-1/1.jpg",  # the supplier's own URL
        "https://a.allegroimg.com/original/000000/never-uploaded.jpg",
    ):
        response = api.post("/sale/product-offers", offer_body(server, images=[url]))
        assert response.status_code == 422, response.text
        error = response.json()["errors"][0]
        assert error["code"] == "OfferImagesNotFoundException"
        assert error["path"] == "images"
    assert _seller_state(server, api)["offers"] == []


def test_an_unused_upload_expires_after_a_day(api: Api, server: Server) -> None:
    stale = _upload(api, "https://cdn.supplier.example/SKU-2/1.jpg")
    server.admin.post("/clock", json={"advanceSeconds": 24 * 3600 + 1})
    try:
        fresh = server.admin.post("/tokens", json={"login": api.login}).json()["access_token"]
        later = api.with_token(fresh)
        response = later.post("/sale/product-offers", offer_body(server, images=[stale]))
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "OfferImagesNotFoundException"
        again = _upload(later, "https://cdn.supplier.example/SKU-2/1.jpg")
        created = later.post("/sale/product-offers", offer_body(server, images=[again]))
        assert settled(later, created)["images"] == [again]
    finally:
        server.emu.clock_offset = 0.0


def test_a_used_image_does_not_expire(api: Api, server: Server) -> None:
    kept = _upload(api, "https://cdn.supplier.example/SKU-3/1.jpg")
    create_offer(api, server, images=[kept])
    server.admin.post("/clock", json={"advanceSeconds": 3 * 24 * 3600})
    try:
        fresh = server.admin.post("/tokens", json={"login": api.login}).json()["access_token"]
        later = api.with_token(fresh)
        created = later.post("/sale/product-offers", offer_body(server, images=[kept]))
        assert settled(later, created)["images"] == [kept]
    finally:
        server.emu.clock_offset = 0.0


def test_the_gallery_holds_sixteen_images(api: Api, server: Server) -> None:
    uploaded = [_upload(api, f"https://cdn.supplier.example/SKU-4/{n}.jpg") for n in range(17)]
    response = api.post("/sale/product-offers", offer_body(server, images=uploaded))
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["code"] == "GallerySizeException"
    assert error["metadata"] == {"gallerySizeLimit": "16"}
    assert create_offer(api, server, images=uploaded[:16])["images"] == uploaded[:16]


def test_an_edit_is_held_to_the_same_rules(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    refused = api.patch(
        f"/sale/product-offers/{offer['id']}", {"images": ["https://cdn.supplier.example/x.jpg"]}
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "OfferImagesNotFoundException"
    cover = _upload(api, "https://cdn.supplier.example/SKU-5/new-cover.jpg")
    edited = api.patch(f"/sale/product-offers/{offer['id']}", {"images": [cover]})
    assert edited.status_code in (200, 202), edited.text
    assert api.get(f"/sale/product-offers/{offer['id']}").json()["images"] == [cover]


def test_an_upload_allegro_cannot_fetch_is_a_422(api: Api, server: Server) -> None:
    url = "https://cdn.supplier.example/SKU-6/forbidden.jpg"
    assert server.admin.put("/images/refused", json={"urls": [url]}).status_code == 200
    try:
        refused = api.post("/sale/images", {"url": url})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["code"] == "DownloadError.Forbidden"
        assert _seller_state(server, api)["imageUploads"] == 0
    finally:
        server.admin.put("/images/refused", json={"urls": []})
    assert api.post("/sale/images", {"url": url}).status_code == 201


def _described(*items: dict[str, str]) -> dict[str, Any]:
    return {"sections": [{"items": [item]} for item in items]}


def test_a_description_image_allegro_does_not_host_is_refused(api: Api, server: Server) -> None:
    text = {"type": "TEXT", "content": "<p>Czajnik</p>"}
    supplier = {"type": "IMAGE", "url": "https://cdn.supplier.example/SKU-7/inside.jpg"}
    response = api.post(
        "/sale/product-offers", offer_body(server, description=_described(text, supplier))
    )
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "OfferImagesNotFoundException"
    assert error["path"] == "description.sections[1].items[0].url"
    assert _seller_state(server, api)["offers"] == []
    # Uploaded first, the same image is taken and, shown in a description, stops expiring.
    inside = _upload(api, supplier["url"])
    hosted = {"type": "IMAGE", "url": inside}
    offer = create_offer(api, server, description=_described(text, hosted))
    assert offer["description"]["sections"][1]["items"][0]["url"] == inside
    held = {i["location"]: i for i in _seller_state(server, api)["images"]}
    assert held[inside]["used"] and held[inside]["expiresAt"] is None


def test_a_description_edit_is_held_to_the_same_rule(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    supplier = {"type": "IMAGE", "url": "https://cdn.supplier.example/SKU-8/inside.jpg"}
    refused = api.patch(
        f"/sale/product-offers/{offer['id']}", {"description": _described(supplier)}
    )
    assert refused.status_code == 422
    error = refused.json()["errors"][0]
    assert error["code"] == "OfferImagesNotFoundException"
    assert error["path"] == "description.sections[0].items[0].url"
    inside = _upload(api, supplier["url"])
    edited = api.patch(
        f"/sale/product-offers/{offer['id']}",
        {"description": _described({"type": "IMAGE", "url": inside})},
    )
    assert edited.status_code in (200, 202), edited.text
    shown = api.get(f"/sale/product-offers/{offer['id']}").json()["description"]
    assert shown == _described({"type": "IMAGE", "url": inside})
