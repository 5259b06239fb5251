"""Handlers on a fake unit of work (no database): the order rules that need no BigBuy."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from bigbuy_connector import handlers
from bigbuy_connector.domain import commands as c
from bigbuy_connector.domain import orders as o
from bigbuy_connector.repository import OrderRepository
from mci_testing.fake_uow import FakeUnitOfWork
from shared.errors import Conflict, Invalid, NotFound
from shared.events import OrderCancelled


class FakeOrders:
    def __init__(self, *orders: dict[str, Any]) -> None:
        self.rows = {r["order_id"]: r for r in orders}

    async def get(self, order_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        row = self.rows.get(order_id)
        return None if row is None else dict(row)

    async def update(self, order_id: str, **values: Any) -> None:
        self.rows[order_id].update(values)

    async def waiting_wallet(self) -> list[dict[str, Any]]:
        return [r for r in self.rows.values() if r["state"] == o.WAITING_WALLET]

    async def release(self, order_ids: Sequence[str], now: float) -> None:
        for order_id in order_ids:
            self.rows[order_id].update(state=o.NEW, due_at=now)


def order(order_id: str, state: str, cost: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "account_id": "a",
        "state": state,
        "order": {"order_id": order_id, "lines": [], "buyer": {}, "delivery": {}},
        "address_override": None,
        "accept_loss": False,
        "bigbuy_order_id": None,
        "bigbuy_status": None,
        "cost_total": None if cost is None else Decimal(cost),
        "sale_total": None,
        "error_code": None,
        "error": None,
        "attempts": 0,
        "carrier": None,
        "tracking_number": None,
        "cancel_requested": False,
        "created_at": None,
        "updated_at": None,
        **extra,
    }


def uow(repo: FakeOrders) -> FakeUnitOfWork:
    return FakeUnitOfWork({OrderRepository: repo})


class TestReleaseWaiting:
    async def test_the_oldest_orders_the_balance_covers_go_out_in_order_of_arrival(self) -> None:
        repo = FakeOrders(
            order("1", o.WAITING_WALLET, "40"),
            order("2", o.WAITING_WALLET, "70"),
            order("3", o.WAITING_WALLET, "10"),
        )
        released = await handlers.release_waiting(c.ReleaseWaiting(Decimal("100"), 5.0), uow(repo))
        # The third would fit, but never overtakes the second.
        assert released == ["1"]
        states = [r["state"] for r in repo.rows.values()]
        assert states == [o.NEW, o.WAITING_WALLET, o.WAITING_WALLET]


class TestCancellation:
    async def test_an_order_not_yet_sent_is_simply_cancelled(self) -> None:
        repo = FakeOrders(order("1", o.OUT_OF_STOCK))
        event = OrderCancelled(account_id="a", order_id="1", reason="buyer")
        await handlers.order_cancelled(event, uow(repo))
        assert repo.rows["1"]["state"] == o.CANCELLED

    async def test_an_order_being_sent_is_decided_when_the_send_ends(self) -> None:
        repo = FakeOrders(order("1", o.SENDING))
        await handlers.order_cancelled(
            OrderCancelled(account_id="a", order_id="1", reason="buyer"), uow(repo)
        )
        assert (repo.rows["1"]["state"], repo.rows["1"]["cancel_requested"]) == (o.SENDING, True)
        await handlers.order_outcome(
            c.OrderOutcome("1", o.SENT, {"bigbuy_order_id": "9"}), uow(repo)
        )
        assert repo.rows["1"]["state"] == o.CANCEL_MANUAL
        assert repo.rows["1"]["error_code"] == "no_cancel_endpoint"


class TestResend:
    async def test_only_a_refused_order_is_resent(self) -> None:
        repo = FakeOrders(order("1", o.SENT))
        with pytest.raises(Conflict):
            await handlers.resend(c.Resend("1", 0.0), uow(repo))
        with pytest.raises(NotFound):
            await handlers.resend(c.Resend("2", 0.0), uow(repo))

    async def test_an_address_fix_that_is_still_incomplete_is_refused(self) -> None:
        repo = FakeOrders(order("1", o.BAD_ADDRESS))
        with pytest.raises(Invalid) as refused:
            await handlers.resend(c.Resend("1", 0.0, {"postcode": "00-001"}), uow(repo))
        assert refused.value.code == "invalid_address"
        assert repo.rows["1"]["state"] == o.BAD_ADDRESS  # nothing changed

    async def test_a_postcode_not_of_the_countrys_format_is_refused(self) -> None:
        repo = FakeOrders(order("1", o.BAD_ADDRESS))
        fix = {"country": "PL", "postcode": "30001"}
        with pytest.raises(Invalid) as refused:
            await handlers.resend(c.Resend("1", 0.0, fix), uow(repo))
        assert refused.value.code == "invalid_address"
        assert {
            "field": "shippingAddress.postcode",
            "problem": "not a postcode of PL (like 00-001)",
        } in refused.value.details
        assert repo.rows["1"]["address_override"] is None

    async def test_a_loss_accepted_by_the_operator_goes_out(self) -> None:
        repo = FakeOrders(order("1", o.LOSS))
        await handlers.resend(c.Resend("1", 7.0, accept_loss=True), uow(repo))
        assert (repo.rows["1"]["state"], repo.rows["1"]["accept_loss"]) == (o.NEW, True)
        assert repo.rows["1"]["due_at"] == 7.0
