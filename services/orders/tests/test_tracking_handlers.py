"""Tracking back without servers: carriers, waybills, and what a shipment message records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from mci_testing.fake_uow import FakeUnitOfWork
from orders import handlers
from orders.domain import commands as c
from orders.domain import fulfillment
from orders.repository import OrdersRepository
from shared.errors import Conflict, Invalid, NotFound
from shared.events import SupplierShipmentSent


@dataclass
class FakeTrackingRepository:
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    write_backs: dict[int, dict[str, Any]] = field(default_factory=dict)
    history: list[tuple[str, str]] = field(default_factory=list)

    async def checkout_form(self, checkout_form_id: str) -> dict[str, Any] | None:
        return self.forms.get(checkout_form_id)

    async def add_shipment(
        self,
        account_id: str,
        checkout_form_id: str,
        waybill: str,
        carrier: str,
        line_items: Sequence[str],
        requested_by: str,
    ) -> int | None:
        if any(
            w["checkout_form_id"] == checkout_form_id and w["waybill"] == waybill
            for w in self.write_backs.values()
        ):
            return None
        number = len(self.write_backs) + 1
        self.write_backs[number] = {
            "id": number,
            "checkout_form_id": checkout_form_id,
            "waybill": waybill,
            "carrier": carrier,
            "line_items": list(line_items),
            "state": "pending",
        }
        return number

    async def add_status_change(
        self, account_id: str, checkout_form_id: str, status: str, requested_by: str
    ) -> int:
        number = len(self.write_backs) + 1
        self.write_backs[number] = {
            "id": number,
            "checkout_form_id": checkout_form_id,
            "fulfillment_status": status,
            "state": "pending",
        }
        return number

    async def write_back(self, write_back_id: int) -> dict[str, Any] | None:
        return self.write_backs.get(write_back_id)

    async def retry_write_back(self, write_back_id: int) -> None:
        self.write_backs[write_back_id]["state"] = "pending"

    async def add_history(self, checkout_form_id: str, kind: str, detail: dict[str, Any]) -> None:
        self.history.append((checkout_form_id, kind))


def shipment(**overrides: Any) -> SupplierShipmentSent:
    fields: dict[str, Any] = {
        "account_id": "acct",
        "order_id": "f1",
        "carrier_id": "DPD",
        "tracking_number": "DPD-0001",
    }
    return SupplierShipmentSent(**{**fields, **overrides})


def repository() -> FakeTrackingRepository:
    repo = FakeTrackingRepository()
    repo.forms["f1"] = {"account_id": "acct", "form": {"id": "f1", "lineItems": [{"id": "l1"}]}}
    return repo


class TestCarriers:
    def test_known_names_map_to_allegro_ids_whatever_their_case(self) -> None:
        assert fulfillment.allegro_carrier("InPost", {}) == fulfillment.Carrier("INPOST", None)
        assert fulfillment.allegro_carrier(" poczta-polska ", {}).carrier_id == "POCZTA_POLSKA"
        assert fulfillment.allegro_carrier("GLS", {}).carrier_id == "GLS"

    def test_the_configured_mapping_adds_and_overrides(self) -> None:
        mapping = {"Raben": "DHL", "dpd": "OTHER"}
        assert fulfillment.allegro_carrier("RABEN", mapping).carrier_id == "DHL"
        assert fulfillment.allegro_carrier("DPD", mapping) == fulfillment.Carrier("OTHER", "DPD")

    def test_an_unknown_carrier_is_other_with_its_name_cut_to_30(self) -> None:
        name = "Kurier Zbyszek i Synowie Spółka Jawna z Radomia"
        carrier = fulfillment.allegro_carrier(name, {})
        assert carrier == fulfillment.Carrier("OTHER", name[:30])


class TestSupplierShipmentSent:
    async def test_recorded_once_per_waybill(self) -> None:
        repo = repository()
        uow = FakeUnitOfWork({OrdersRepository: repo})
        first = await handlers.supplier_shipment_sent(shipment(), uow)
        again = await handlers.supplier_shipment_sent(shipment(carrier_id="dpd"), uow)
        other = await handlers.supplier_shipment_sent(shipment(tracking_number="DPD-0002"), uow)
        assert first == {"write_back": 1} and again == {"duplicate": True}
        assert other == {"write_back": 2}
        assert [w["waybill"] for w in repo.write_backs.values()] == ["DPD-0001", "DPD-0002"]
        assert repo.history == [("f1", "shipment_requested")] * 2

    @pytest.mark.parametrize(
        ("overrides", "reason"),
        [
            ({"tracking_number": "X" * 65}, "1 to 64 characters"),
            ({"tracking_number": "  "}, "1 to 64 characters"),
            ({"carrier_id": ""}, "carrier is empty"),
            ({"order_id": "nope"}, "no such imported checkout form"),
            ({"account_id": "someone-else"}, "no such imported checkout form"),
            ({"lines": [{"line_item_id": "l9"}]}, "line item l9 is not in the order"),
            ({"lines": [{"quantity": 1}]}, r"lines\[0\] has no line_item_id"),
        ],
    )
    async def test_a_bad_message_raises_its_reason_and_records_nothing(
        self, overrides: dict[str, Any], reason: str
    ) -> None:
        repo = repository()
        uow = FakeUnitOfWork({OrdersRepository: repo})
        with pytest.raises(handlers.InvalidShipment, match=reason):
            await handlers.supplier_shipment_sent(shipment(**overrides), uow)
        assert repo.write_backs == {} and repo.history == []

    async def test_lines_name_allegro_line_items(self) -> None:
        repo = repository()
        uow = FakeUnitOfWork({OrdersRepository: repo})
        await handlers.supplier_shipment_sent(shipment(lines=[{"line_item_id": "l1"}]), uow)
        assert repo.write_backs[1]["line_items"] == ["l1"]


class TestFulfillmentStatus:
    async def test_a_settable_status_is_queued(self) -> None:
        repo = repository()
        uow = FakeUnitOfWork({OrdersRepository: repo})
        command = c.RequestFulfillmentStatus("f1", "PROCESSING", "ops")
        found = await handlers.request_fulfillment_status(command, uow)
        assert found["fulfillment_status"] == "PROCESSING" and found["state"] == "pending"

    async def test_returned_cannot_be_set_and_an_unknown_form_is_404(self) -> None:
        uow = FakeUnitOfWork({OrdersRepository: repository()})
        with pytest.raises(Invalid):
            await handlers.request_fulfillment_status(
                c.RequestFulfillmentStatus("f1", "RETURNED", "ops"), uow
            )
        with pytest.raises(NotFound):
            await handlers.request_fulfillment_status(
                c.RequestFulfillmentStatus("nope", "SENT", "ops"), uow
            )

    async def test_only_a_failed_write_back_is_retried(self) -> None:
        repo = repository()
        uow = FakeUnitOfWork({OrdersRepository: repo})
        await handlers.supplier_shipment_sent(shipment(), uow)
        with pytest.raises(Conflict):
            await handlers.retry_write_back(c.RetryWriteBack(1, "ops"), uow)
        repo.write_backs[1]["state"] = "failed"
        retried = await handlers.retry_write_back(c.RetryWriteBack(1, "ops"), uow)
        assert retried["state"] == "pending"
