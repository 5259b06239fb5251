from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared import asyncapi
from shared.events import (
    ALL_EVENTS,
    CatalogItem,
    CatalogUpdated,
    Envelope,
    Money,
    parse_data,
)

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_asyncapi_document_is_current() -> None:
    committed = (REPO / "docs" / "asyncapi.yaml").read_text()
    assert committed == asyncapi.render(), "docs/asyncapi.yaml is stale: run `make asyncapi`"


def test_every_event_has_a_channel_a_message_and_its_schema() -> None:
    doc = asyncapi.document()
    addresses = {channel["address"] for channel in doc["channels"].values()}
    for event in ALL_EVENTS:
        assert event.routing_key in addresses
        assert event.event_type in doc["components"]["messages"]
        assert event.__name__ in doc["components"]["schemas"]
        assert event.producer, f"{event.__name__} names no producer"


def test_event_types_and_routing_keys_are_unique() -> None:
    assert len({e.event_type for e in ALL_EVENTS}) == len(ALL_EVENTS)
    assert len({e.routing_key for e in ALL_EVENTS}) == len(ALL_EVENTS)


def test_an_event_survives_the_envelope_round_trip_with_decimal_money() -> None:
    event = CatalogUpdated(
        account_id="acc-1",
        items=[
            CatalogItem(
                sku="SKU-1",
                revision=3,
                listed=True,
                cost=Money(amount=Decimal("12.30"), currency="EUR"),
                weight_kg=Decimal("0.250"),
            )
        ],
    )
    envelope = Envelope(
        type=event.event_type,
        source="catalog",
        correlation_id="c",
        data=event.model_dump(mode="json"),
    )
    assert envelope.data["items"][0]["cost"] == {"amount": "12.30", "currency": "EUR"}
    wire = envelope.model_dump_json()
    back = parse_data(Envelope.model_validate_json(wire), CatalogUpdated)
    assert back == event
    assert back.items[0].cost is not None
    assert back.items[0].cost.amount == Decimal("12.30")


def test_unknown_fields_are_refused_rather_than_silently_dropped() -> None:
    with pytest.raises(ValidationError):
        CatalogUpdated.model_validate({"account_id": "a", "items": [], "surprise": 1})
