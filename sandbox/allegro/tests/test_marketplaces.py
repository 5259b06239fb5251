"""Additional marketplaces: qualification from the shipping rates, prices, VQR refusals."""

from __future__ import annotations

import uuid

from .conftest import Api, Server
from .helpers import create_offer, offer_body, offer_ids, wait_command

PL = "7203cb90-864c-4cab-b0a6-6a9b5d9f1d9b"
CZ = "845efe05-3a18-4d3f-9a9f-9c9c2e1b4d21"
SK = "3c1f2e4d-5b6a-4c7d-8e9f-0a1b2c3d4e51"


def _rates(api: Api, *methods: str) -> str:
    body = {
        "name": f"set {uuid.uuid4().hex[:6]}",
        "rates": [
            {
                "deliveryMethod": {"id": m},
                "maxQuantityPerPackage": 1,
                "firstItemRate": {"amount": "10.00", "currency": "PLN"},
                "nextItemRate": {"amount": "0.00", "currency": "PLN"},
            }
            for m in methods
        ],
    }
    set_id: str = api.post("/sale/shipping-rates", body).json()["id"]
    return set_id


def test_qualification_follows_delivery_countries_and_prices(api: Api, server: Server) -> None:
    rates = _rates(api, PL, CZ, SK)
    offer = create_offer(
        api,
        server,
        price="100.00",
        delivery={"shippingRates": {"id": rates}},
        additionalMarketplaces={
            "allegro-cz": {"sellingMode": {"price": {"amount": "580", "currency": "CZK"}}},
            "allegro-sk": {"sellingMode": {"price": {"amount": "10.00", "currency": "EUR"}}},
        },
    )
    markets = api.get(f"/sale/product-offers/{offer['id']}").json()["additionalMarketplaces"]
    assert markets["allegro-cz"]["publication"]["state"] == "APPROVED"
    sk = markets["allegro-sk"]["publication"]
    assert sk["state"] == "REFUSED"  # 10 EUR is far below 100 PLN converted
    assert sk["refusalReasons"][0]["code"] == "VQR009_PRICE_IN_ADDITIONAL_MARKETPLACE_MISMATCH"
    assert markets["allegro-hu"]["publication"]["state"] == "NOT_REQUESTED"  # no delivery to HU
    listed = api.get("/sale/offers", params={"offer.id": offer["id"]}).json()["offers"][0]
    assert listed["publication"]["marketplaces"]["additional"] == [{"id": "allegro-cz"}]
    on_cz = api.get("/sale/offers", params={"publication.marketplace": "allegro-cz"}).json()
    assert [o["id"] for o in on_cz["offers"]] == [offer["id"]]


def test_missing_currency_price_is_refused_with_vqr001(api: Api, server: Server) -> None:
    rates = _rates(api, PL, CZ)
    offer = create_offer(api, server, delivery={"shippingRates": {"id": rates}})
    cz = api.get(f"/sale/product-offers/{offer['id']}").json()["additionalMarketplaces"][
        "allegro-cz"
    ]
    assert cz["publication"]["refusalReasons"][0]["code"] == "VQR001_CURRENCY_NOT_AVAILABLE"
    command = str(uuid.uuid4())
    api.put(
        f"/sale/offer-price-change-commands/{command}",
        {
            "modification": {
                "type": "FIXED_PRICE",
                "price": {"amount": "600", "currency": "CZK"},
                "marketplaceId": "allegro-cz",
            },
            "offerCriteria": offer_ids(offer["id"]),
        },
    )
    wait_command(api, "/sale/offer-price-change-commands", command, 1)
    cz = api.get(f"/sale/product-offers/{offer['id']}").json()["additionalMarketplaces"][
        "allegro-cz"
    ]
    assert cz["publication"]["state"] == "APPROVED"
    assert cz["sellingMode"]["price"] == {"amount": "600", "currency": "CZK"}


def test_price_without_delivery_is_refused_with_vqr003(api: Api, server: Server) -> None:
    rates = _rates(api, PL)
    offer = create_offer(
        api,
        server,
        delivery={"shippingRates": {"id": rates}},
        additionalMarketplaces={
            "allegro-cz": {"sellingMode": {"price": {"amount": "580", "currency": "CZK"}}}
        },
    )
    markets = api.get(f"/sale/product-offers/{offer['id']}").json()["additionalMarketplaces"]
    reasons = markets["allegro-cz"]["publication"]["refusalReasons"]
    assert reasons[0]["code"] == "VQR003_DELIVERY_TO_OPERATIONAL_COUNTRY_NOT_AVAILABLE"
    assert markets["allegro-sk"]["publication"]["state"] == "NOT_REQUESTED"


def test_price_rules_per_currency(api: Api, server: Server) -> None:
    wrong_currency = api.post(
        "/sale/product-offers",
        offer_body(
            server,
            additionalMarketplaces={
                "allegro-cz": {"sellingMode": {"price": {"amount": "580", "currency": "PLN"}}}
            },
        ),
    )
    assert wrong_currency.status_code == 422
    huf = api.post(
        "/sale/product-offers",
        offer_body(
            server,
            additionalMarketplaces={
                "allegro-hu": {"sellingMode": {"price": {"amount": "9999", "currency": "HUF"}}}
            },
        ),
    )
    assert huf.json()["errors"][0]["code"] == "InvalidPricePrecision"
    base = api.post(
        "/sale/product-offers",
        offer_body(
            server,
            additionalMarketplaces={
                "allegro-pl": {"sellingMode": {"price": {"amount": "10.00", "currency": "PLN"}}}
            },
        ),
    )
    assert base.json()["errors"][0]["code"] == "BaseMarketplaceInAdditionalMarketplacesException"


def test_stock_is_shared_across_marketplaces(api: Api, server: Server) -> None:
    rates = _rates(api, PL, CZ)
    offer = create_offer(
        api,
        server,
        stock=3,
        price="100.00",
        delivery={"shippingRates": {"id": rates}},
        additionalMarketplaces={
            "allegro-cz": {"sellingMode": {"price": {"amount": "580", "currency": "CZK"}}}
        },
    )
    assert (
        server.admin.post(
            "/orders", json={"offerId": offer["id"], "quantity": 2, "marketplaceId": "allegro-cz"}
        ).status_code
        == 201
    )
    listed = api.get("/sale/offers", params={"offer.id": offer["id"]}).json()["offers"][0]
    assert listed["stock"] == {"available": 1, "sold": 2}
    assert listed["additionalMarketplaces"]["allegro-cz"]["stock"] == {"sold": 2}


def test_offer_events_match_their_discriminated_schemas(api: Api, server: Server, schemas) -> None:
    rates = _rates(api, PL, CZ)
    offer = create_offer(
        api,
        server,
        stock=2,
        delivery={"shippingRates": {"id": rates}},
        additionalMarketplaces={
            "allegro-cz": {"sellingMode": {"price": {"amount": "580", "currency": "CZK"}}}
        },
    )
    api.patch(
        f"/sale/product-offers/{offer['id']}",
        {"sellingMode": {"price": {"amount": "90.00", "currency": "PLN"}}},
    )
    server.admin.post("/orders", json={"offerId": offer["id"], "quantity": 2})  # stock 0: ended
    events = api.get("/sale/offer-events").json()["offerEvents"]
    kinds = {e["type"] for e in events}
    assert {
        "OFFER_ACTIVATED",
        "OFFER_VISIBILITY_CHANGED",
        "OFFER_PRICE_CHANGED",
        "OFFER_STOCK_CHANGED",
        "OFFER_ENDED",
    } <= kinds
    for event in events:
        schemas.validate_discriminated("SellerOfferBaseEvent", event)
    visibility = next(e for e in events if e["type"] == "OFFER_VISIBILITY_CHANGED")
    assert (
        visibility["offer"]["publication"]["marketplaces"]["additional"][0]["status"] == "APPROVED"
    )


def test_category_parameters_match_their_discriminated_schemas(api: Api, schemas) -> None:
    for parameter in api.get("/sale/categories/4231/parameters").json()["parameters"]:
        schemas.validate_discriminated("CategoryParameter", parameter)


def test_product_parameters_and_descriptions_match_their_schemas(
    api: Api, server: Server, schemas
) -> None:
    for parameter in api.get("/sale/categories/4231/product-parameters").json()["parameters"]:
        schemas.validate_discriminated("CategoryProductParameter", parameter)
    offer = create_offer(api, server)
    product = api.get(f"/sale/products/{offer['productSet'][0]['product']['id']}").json()
    for description in (product["description"], offer["description"]):
        for section in description["sections"]:
            for item in section["items"]:
                schemas.validate_discriminated("DescriptionSectionItem", item)


def test_a_buyer_on_allegro_cz_has_a_czech_address(api: Api, server: Server) -> None:
    rates = _rates(api, PL, CZ)
    offer = create_offer(
        api,
        server,
        price="100.00",
        delivery={"shippingRates": {"id": rates}},
        additionalMarketplaces={
            "allegro-cz": {"sellingMode": {"price": {"amount": "580", "currency": "CZK"}}}
        },
    )
    body = {"offerId": offer["id"], "marketplaceId": "allegro-cz"}
    form = server.admin.post("/orders", json=body).json()
    address = form["delivery"]["address"]
    assert (address["countryCode"], address["zipCode"], address["city"]) == (
        "CZ",
        "110 00",
        "Praha",
    )
    assert form["buyer"]["address"]["postCode"] == "110 00"
    assert address["phoneNumber"].startswith("+420")
