"""The comparison rules of drift and reconciliation (domain/drift.py): pure, no I/O."""

from __future__ import annotations

import dataclasses

from offers.domain import drift as d
from offers.domain import states

PLN = {"amount": "49.90", "currency": "PLN"}


def ours(**changes: object) -> d.Ours:
    base = d.Ours(
        sku="SKU-1",
        state=states.ACTIVE,
        offer_id="777",
        listed=True,
        stock=5,
        sent_stock=5,
        price=PLN,
        sent_price=PLN,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def theirs(**changes: object) -> d.OnAllegro:
    base = d.OnAllegro(offer_id="777", sku="SKU-1", status="ACTIVE", price=PLN, stock=5)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def kinds(found: list[d.Drift]) -> list[tuple[str, str | None]]:
    return [(f.kind, f.repair) for f in found]


def test_an_offer_as_we_sent_it_has_no_drift() -> None:
    assert d.compare(ours(), theirs(price={"amount": "49.9", "currency": "PLN"})) == []


def test_a_value_we_want_but_have_not_recorded_as_sent_is_ours() -> None:
    # Our own write under way: Allegro already has the wanted value, our row not yet.
    wanted = ours(price={"amount": "59.90", "currency": "PLN"}, stock=8)
    assert d.compare(wanted, theirs(price={"amount": "59.90", "currency": "PLN"}, stock=8)) == []


def test_price_and_stock_changed_outside_are_resent() -> None:
    found = d.compare(ours(), theirs(price={"amount": "39.90", "currency": "PLN"}, stock=9))
    assert kinds(found) == [(d.PRICE, d.RESEND), (d.STOCK, d.RESEND)]
    price, stock = found
    assert price.ours == PLN and price.allegro == {"amount": "39.90", "currency": "PLN"}
    assert (stock.ours, stock.allegro) == (5, 9)


def test_a_price_in_another_currency_is_drift() -> None:
    found = d.compare(ours(), theirs(price={"amount": "49.90", "currency": "EUR"}))
    assert kinds(found) == [(d.PRICE, d.RESEND)]


def test_an_offer_ended_on_allegro_that_we_want_live_is_reactivated() -> None:
    found = d.compare(ours(), theirs(status="ENDED", ended_by="USER"))
    assert kinds(found) == [(d.ENDED, d.REACTIVATE)]
    assert found[0].allegro == {"status": "ENDED", "endedBy": "USER"}


def test_an_end_we_asked_for_is_not_drift() -> None:
    sold_out = ours(stock=0)  # our END is under way
    assert d.compare(sold_out, theirs(status="ENDED", ended_by="USER")) == []
    withdrawn = ours(state=states.ENDED, listed=False)
    assert d.compare(withdrawn, theirs(status="ENDED", ended_by="USER")) == []


def test_an_offer_we_ended_that_the_seller_reactivated_is_ended_again() -> None:
    found = d.compare(ours(state=states.ENDED, stock=0, sent_stock=5), theirs(status="ACTIVE"))
    assert kinds(found) == [(d.STATUS, d.END)]


def test_a_reactivation_we_want_is_not_drift() -> None:
    # Ended here, restocked: the publisher's activation is what Allegro shows.
    assert d.compare(ours(state=states.ENDED), theirs(status="ACTIVE")) == []


def test_a_draft_on_allegro_of_an_offer_active_here_is_read_back() -> None:
    assert kinds(d.compare(ours(), theirs(status="INACTIVE"))) == [(d.STATUS, d.VERIFY)]


def test_a_create_in_flight_is_the_publishers() -> None:
    for state in (states.CHECKING, states.CREATING):
        creating = ours(state=state, offer_id=None, sent_stock=None, sent_price=None)
        assert d.compare(creating, theirs(stock=1)) == []


def test_an_offer_the_worker_holds_is_reported_without_repair() -> None:
    found = d.compare(ours(busy=True), theirs(stock=9))
    assert kinds(found) == [(d.STOCK, None)]


def test_events_carry_only_their_kinds() -> None:
    found = d.compare(ours(), theirs(price={"amount": "1.00", "currency": "PLN"}, stock=9))
    assert kinds(d.for_event("OFFER_PRICE_CHANGED", found)) == [(d.PRICE, d.RESEND)]
    assert kinds(d.for_event("OFFER_STOCK_CHANGED", found)) == [(d.STOCK, d.RESEND)]
    assert d.for_event("OFFER_BID_PLACED", found) == []


def test_reconcile_finds_missing_unknown_adoptable_and_changed_offers() -> None:
    held = [
        ours(sku="GONE", offer_id="1"),
        ours(sku="ADOPT", state=states.FAILED, offer_id=None, sent_stock=None),
        ours(sku="SAME", offer_id="3"),
        ours(sku="PRICE", offer_id="4"),
        ours(sku="NEVER", state=states.WAITING, offer_id=None, sent_stock=None),
        ours(sku="OLD", state=states.ENDED, offer_id="6", listed=False),
    ]
    there = [
        theirs(offer_id="2", sku="ADOPT"),
        theirs(offer_id="3", sku="SAME"),
        theirs(offer_id="4", sku="PRICE", price={"amount": "9.99", "currency": "PLN"}),
        theirs(offer_id="8", sku="STRANGER"),
        theirs(offer_id="9", sku=None),
    ]
    found = {(f.sku, f.offer_id): (f.drift.kind, f.drift.repair) for f in d.reconcile(held, there)}
    assert found == {
        ("GONE", "1"): (d.MISSING, d.RECREATE),
        ("ADOPT", "2"): (d.UNKNOWN, d.ADOPT),
        ("PRICE", "4"): (d.PRICE, d.RESEND),
        ("STRANGER", "8"): (d.UNKNOWN, None),
        (None, "9"): (d.UNKNOWN, None),
    }


def test_reconcile_recreates_ours_when_allegro_has_another_offer_of_the_sku() -> None:
    found = d.reconcile([ours(offer_id="1")], [theirs(offer_id="2")])
    assert [(f.offer_id, f.drift.kind, f.drift.repair) for f in found] == [
        ("1", d.MISSING, d.RECREATE)
    ]


def test_an_ended_offer_we_want_live_and_allegro_lost_is_recreated() -> None:
    found = d.reconcile([ours(state=states.ENDED)], [])
    assert [(f.drift.kind, f.drift.repair) for f in found] == [(d.MISSING, d.RECREATE)]


def test_allegros_listing_item_is_read() -> None:
    item = {
        "id": "42",
        "external": {"id": "SKU-9"},
        "publication": {"status": "ENDED", "endedBy": "EMPTY_STOCK"},
        "sellingMode": {"price": PLN},
        "stock": {"available": 0, "sold": 3},
    }
    assert d.on_allegro_of(item) == d.OnAllegro("42", "SKU-9", "ENDED", PLN, 0, "EMPTY_STOCK")
    row = {
        "sku": "SKU-9",
        "state": "active",
        "offer_id": "42",
        "listed": True,
        "stock": 2,
        "sent_stock": 3,
        "prices": {"allegro-pl": PLN, "allegro-cz": {"amount": "290", "currency": "CZK"}},
        "sent_prices": None,
    }
    found = d.ours_of(row, "allegro-pl")
    assert (found.price, found.sent_price, found.stock, found.sent_stock) == (PLN, None, 2, 3)


def test_who_ended_an_offer_comes_from_its_event() -> None:
    listed = {"SKU-1": [theirs(status="ENDED"), theirs(offer_id="8", status="ENDED")]}
    events = [
        {"id": "e1", "type": "OFFER_STOCK_CHANGED", "offer": {"id": "777"}},
        {
            "id": "e2",
            "type": "OFFER_ENDED",
            "offer": {"id": "777", "publication": {"endedBy": "USER"}},
        },
    ]
    found = d.with_ended_by(listed, events)["SKU-1"]
    assert [o.ended_by for o in found] == ["USER", None]


def test_an_offer_we_have_no_price_for_has_no_price_drift() -> None:
    adopted = ours(price=None, sent_price=None, sent_stock=None)
    assert d.compare(adopted, theirs(price={"amount": "12.00", "currency": "PLN"})) == []
