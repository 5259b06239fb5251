"""store_order_events on a fake unit of work: what is handed off, once, and what never is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from mci_testing.fake_uow import FakeUnitOfWork
from orders import handlers
from orders.domain import commands as c
from orders.repository import FormToSave, LineItemOwner, OrdersRepository, StoredForm
from shared.events import OfferPublished, OrderCancelled, OrderReceived


@dataclass
class FakeOrdersRepository:
    cursor: str | None = None
    forms: dict[str, StoredForm] | None = None
    lines: dict[str, str] | None = None  # line item id -> checkout form id
    history: list[tuple[str, str]] = field(default_factory=list)
    offers: dict[str, tuple[str, str]] = field(default_factory=dict)  # offer -> (account, sku)
    saved_skus: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.forms = {}
        self.lines = {}

    async def advance_cursor(self, account_id: str, before: str | None, after: str) -> bool:
        if self.cursor != before:
            return False
        self.cursor = after
        return True

    async def checkout_forms_for_update(self, ids: Sequence[str]) -> dict[str, StoredForm]:
        assert self.forms is not None
        return {i: self.forms[i] for i in ids if i in self.forms}

    async def save_checkout_forms(self, account_id: str, forms: Sequence[FormToSave]) -> None:
        assert self.forms is not None
        for save in forms:
            form = save.form
            self.saved_skus[form["id"]] = save.skus
            old = self.forms.get(form["id"])
            self.forms[form["id"]] = StoredForm(
                form["id"],
                account_id,
                save.status,
                form["revision"],
                old.received_at if old else None,
                old.cancelled_at if old else None,
                old.superseded_by if old else None,
                (old.duplicate_of if old else None) or save.duplicate_of,
            )

    async def mark_received(self, checkout_form_ids: Sequence[str]) -> None:
        assert self.forms is not None
        for form_id in checkout_form_ids:
            self.forms[form_id] = replace(self.forms[form_id], received_at=datetime.now(UTC))

    async def mark_cancelled(self, checkout_form_ids: Sequence[str]) -> None:
        assert self.forms is not None
        for form_id in checkout_form_ids:
            self.forms[form_id] = replace(self.forms[form_id], cancelled_at=datetime.now(UTC))

    async def mark_superseded(self, checkout_form_ids: Sequence[str], by: str) -> None:
        assert self.forms is not None
        for form_id in checkout_form_ids:
            self.forms[form_id] = replace(self.forms[form_id], superseded_by=by)

    async def line_item_owners(self, line_item_ids: Sequence[str]) -> list[LineItemOwner]:
        assert self.forms is not None and self.lines is not None
        return [
            LineItemOwner(i, self.lines[i], self.forms[self.lines[i]].received_at is not None)
            for i in line_item_ids
            if i in self.lines
        ]

    async def own_line_items(self, account_id: str, owners: Mapping[str, str]) -> None:
        assert self.lines is not None
        self.lines.update(owners)

    async def remember_offer(self, account_id: str, offer_id: str, sku: str) -> None:
        self.offers[offer_id] = (account_id, sku)

    async def published_skus(self, account_id: str, offer_ids: Sequence[str]) -> dict[str, str]:
        return {
            o: self.offers[o][1]
            for o in offer_ids
            if o in self.offers and self.offers[o][0] == account_id
        }

    async def add_history_rows(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        self.history.extend((form_id, kind) for form_id, kind, _ in rows)


def form(form_id: str, status: str, revision: str, *line_ids: str) -> dict[str, Any]:
    return {
        "id": form_id,
        "status": status,
        "revision": revision,
        "marketplace": {"id": "allegro-pl"},
        "buyer": {"id": "1", "login": "kupujacy"},
        "delivery": {"address": {"city": "Warszawa"}, "method": {"id": "m", "name": "DPD"}},
        "lineItems": [
            {
                "id": i,
                "offer": {"id": "o1", "external": {"id": "SKU-1"}},
                "quantity": 1,
                "price": {"amount": "10.00", "currency": "PLN"},
            }
            for i in line_ids
        ],
        "summary": {"totalToPay": {"amount": f"{10 * len(line_ids)}.00", "currency": "PLN"}},
    }


class Importer:
    def __init__(self) -> None:
        self.repo = FakeOrdersRepository()
        self.events: list[Any] = []

    async def page(self, *forms: c.FetchedForm) -> dict[str, int]:
        uow = FakeUnitOfWork({OrdersRepository: self.repo})
        after = str(int(self.repo.cursor or "0") + 1)
        result = await handlers.store_order_events(
            c.StoreOrderEvents("acct", self.repo.cursor, after, list(forms)), uow
        )
        self.events.extend(uow.events)
        return result

    def received(self) -> list[str]:
        return [e.order_id for e in self.events if isinstance(e, OrderReceived)]

    def cancelled(self) -> list[tuple[str, str]]:
        return [(e.order_id, e.reason) for e in self.events if isinstance(e, OrderCancelled)]


def fetched(body: dict[str, Any] | None, *types: str, form_id: str = "") -> c.FetchedForm:
    return c.FetchedForm(form_id or (body or {})["id"], body, types, "1")


class TestStoreOrderEvents:
    async def test_ready_for_processing_twice_is_received_once(self) -> None:
        importer = Importer()
        paid = form("f1", "READY_FOR_PROCESSING", "r2", "l1")
        await importer.page(fetched(paid, "BOUGHT", "READY_FOR_PROCESSING"))
        await importer.page(fetched(paid, "READY_FOR_PROCESSING"))
        assert importer.received() == ["f1"]
        (event,) = [e for e in importer.events if isinstance(e, OrderReceived)]
        assert event.lines[0].sku == "SKU-1" and event.lines[0].line_item_id == "l1"

    async def test_filled_in_after_ready_does_not_regress(self) -> None:
        importer = Importer()
        await importer.page(fetched(form("f1", "READY_FOR_PROCESSING", "r2", "l1")))
        await importer.page(fetched(form("f1", "FILLED_IN", "r1", "l1"), "FILLED_IN"))
        assert importer.repo.forms is not None
        stored = importer.repo.forms["f1"]
        assert (stored.status, stored.revision) == ("READY_FOR_PROCESSING", "r2")
        assert importer.received() == ["f1"]

    async def test_cancelled_before_and_after_payment(self) -> None:
        importer = Importer()
        await importer.page(fetched(form("f1", "FILLED_IN", "r1", "l1")))
        await importer.page(fetched(form("f1", "FILLED_IN", "r1", "l1"), "BUYER_CANCELLED"))
        await importer.page(fetched(form("f2", "READY_FOR_PROCESSING", "r1", "l2")))
        await importer.page(fetched(form("f2", "CANCELLED", "r2", "l2"), "AUTO_CANCELLED"))
        await importer.page(fetched(form("f2", "CANCELLED", "r2", "l2"), "AUTO_CANCELLED"))
        assert importer.received() == ["f2"]
        assert importer.cancelled() == [("f1", "BUYER_CANCELLED"), ("f2", "AUTO_CANCELLED")]

    async def test_combined_payment_supersedes_unpaid_forms(self) -> None:
        importer = Importer()
        await importer.page(
            fetched(form("f1", "FILLED_IN", "r1", "l1")),
            fetched(form("f2", "FILLED_IN", "r1", "l2")),
        )
        await importer.page(
            fetched(None, "FILLED_IN", form_id="f1"),  # gone: replaced
            fetched(form("f3", "READY_FOR_PROCESSING", "r1", "l1", "l2")),
        )
        assert importer.received() == ["f3"]
        assert importer.repo.forms is not None
        assert importer.repo.forms["f1"].superseded_by == "f3"
        assert importer.repo.forms["f2"].superseded_by == "f3"

    async def test_a_combined_payment_in_the_same_page_as_its_forms(self) -> None:
        """One page: two unpaid forms, then the form paying both (set-based store, in order)."""
        importer = Importer()
        await importer.page(
            fetched(form("f1", "FILLED_IN", "r1", "l1")),
            fetched(form("f2", "FILLED_IN", "r1", "l2")),
            fetched(form("f3", "READY_FOR_PROCESSING", "r1", "l1", "l2")),
            fetched(form("f4", "READY_FOR_PROCESSING", "r1", "l1")),  # repeats a handed-off item
        )
        assert importer.received() == ["f3"]
        assert importer.repo.forms is not None and importer.repo.lines is not None
        assert importer.repo.forms["f1"].superseded_by == "f3"
        assert importer.repo.forms["f4"].duplicate_of == "f3"
        assert importer.repo.lines == {"l1": "f3", "l2": "f3"}

    async def test_line_items_already_handed_off_are_never_received_again(self) -> None:
        importer = Importer()
        await importer.page(fetched(form("f1", "READY_FOR_PROCESSING", "r1", "l1")))
        await importer.page(fetched(form("f9", "READY_FOR_PROCESSING", "r1", "l1", "l2")))
        await importer.page(fetched(form("f9", "READY_FOR_PROCESSING", "r2", "l1", "l2")))
        assert importer.received() == ["f1"]
        assert importer.repo.forms is not None
        assert importer.repo.forms["f9"].duplicate_of == "f1"

    async def test_a_page_stored_by_another_replica_stores_nothing(self) -> None:
        importer = Importer()
        importer.repo.cursor = "5"
        uow = FakeUnitOfWork({OrdersRepository: importer.repo})
        command = c.StoreOrderEvents(
            "acct", "4", "6", [fetched(form("f1", "READY_FOR_PROCESSING", "r1", "l1"))]
        )
        with pytest.raises(handlers.StaleCursor):
            await handlers.store_order_events(command, uow)
        assert uow.events == [] and importer.repo.forms == {} and importer.repo.cursor == "5"


class TestOfferDirectory:
    async def test_a_line_without_external_id_sells_the_sku_its_offer_was_published_for(
        self,
    ) -> None:
        importer = Importer()
        uow = FakeUnitOfWork({OrdersRepository: importer.repo})
        published = OfferPublished(
            account_id="acct", sku="SKU-7", offer_id="o1", marketplaces={}, stock=3, status="ACTIVE"
        )
        await handlers.offer_published(published, uow)
        bare = form("f1", "READY_FOR_PROCESSING", "r1", "l1")
        del bare["lineItems"][0]["offer"]["external"]
        await importer.page(fetched(bare))
        (order,) = [e for e in importer.events if isinstance(e, OrderReceived)]
        assert [line.sku for line in order.lines] == ["SKU-7"]
        assert importer.repo.saved_skus["f1"] == ["SKU-7"]

    async def test_the_offers_external_id_wins_and_another_accounts_offer_is_not_used(
        self,
    ) -> None:
        importer = Importer()
        importer.repo.offers["o1"] = ("other-account", "SKU-OTHER")
        await importer.page(fetched(form("f1", "READY_FOR_PROCESSING", "r1", "l1")))
        bare = form("f2", "READY_FOR_PROCESSING", "r1", "l2")
        del bare["lineItems"][0]["offer"]["external"]
        await importer.page(fetched(bare))
        lines = {e.order_id: e.lines[0].sku for e in importer.events}
        assert lines == {"f1": "SKU-1", "f2": None}
