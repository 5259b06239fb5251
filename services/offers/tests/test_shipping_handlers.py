"""Shipping use cases on a fake unit of work (no database): what offers ask (the list of a
weight, the readiness items) and the apply's claim."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from mci_testing.fake_uow import FakeUnitOfWork
from offers import shipping
from offers.domain.shipping import (
    ClaimApply,
    Money,
    SaveShipping,
    ShippingConfiguration,
    WeightBand,
)
from offers.shipping_repository import ShippingRepository, StoredConfiguration, StoredList
from shared.errors import Conflict

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = ShippingConfiguration(
    delivery_methods=("pl",),
    bands=(
        WeightBand(Decimal("1"), {"pl": Money(Decimal("9.99"), "PLN")}),
        WeightBand(Decimal("5"), {"pl": Money(Decimal("14.99"), "PLN")}),
    ),
    handling_time="P2D",
    destination_sets=("PL",),
)


@dataclass
class FakeShippingRepository:
    stored: StoredConfiguration | None = None
    lists: dict[tuple[int, str], str] = field(default_factory=dict)
    held: bool = False

    async def configuration(self, account_id: str) -> StoredConfiguration | None:
        return self.stored

    async def save_configuration(self, account_id: str, document: dict[str, Any], by: str) -> int:
        old = self.stored
        version = 1 if old is None else old.version + 1
        applied = (
            (None, None, None)
            if old is None
            else (
                old.applied_document,
                old.applied_version,
                old.applied_at,
            )
        )
        self.stored = StoredConfiguration(document, version, by, NOW, *applied)
        return version

    async def claim_apply(self, account_id: str, lease_seconds: float) -> int | None:
        if self.held or self.stored is None:
            return None
        self.held = True
        return self.stored.version

    async def price_lists(self, account_id: str) -> list[StoredList]:
        return [StoredList(b, s, i, f"list {b} {s}", "f", NOW) for (b, s), i in self.lists.items()]

    async def price_list(self, account_id: str, band: int, destination_set: str) -> str | None:
        return self.lists.get((band, destination_set))

    def applied(self) -> None:
        assert self.stored is not None
        self.stored = StoredConfiguration(
            self.stored.document,
            self.stored.version,
            "ops",
            NOW,
            self.stored.document,
            self.stored.version,
            NOW,
        )


def uow(repository: FakeShippingRepository) -> FakeUnitOfWork:
    return FakeUnitOfWork({ShippingRepository: repository})


async def test_the_list_comes_from_the_applied_configuration() -> None:
    repository = FakeShippingRepository()
    choice = await shipping.price_list_choice(uow(repository), "a", Decimal(1), {"allegro-pl"})
    assert choice.list_id is None and "no shipping configuration" in str(choice.reason)
    await shipping.save_shipping(SaveShipping("a", CONFIG, "ops"), uow(repository))
    choice = await shipping.price_list_choice(uow(repository), "a", Decimal(1), {"allegro-pl"})
    assert choice.list_id is None and "not applied" in str(choice.reason)
    repository.lists = {(0, "PL"): "light", (1, "PL"): "heavy"}
    repository.applied()
    assert await shipping.price_list_for(uow(repository), "a", Decimal(1), {"allegro-pl"}) == (
        "light"
    )
    assert await shipping.price_list_for(uow(repository), "a", Decimal("1.5"), set()) == "heavy"
    abroad = await shipping.price_list_choice(uow(repository), "a", Decimal(1), {"allegro-cz"})
    assert abroad.list_id is None and "allegro-cz" in str(abroad.reason)
    assert await shipping.handling_time_for(uow(repository), "a") == "P2D"


async def test_readiness_items_in_order_of_the_fix() -> None:
    repository = FakeShippingRepository()
    items = await shipping.shipping_readiness(uow(repository), "a")
    assert [i.code for i in items] == ["shipping_not_configured"]
    await shipping.save_shipping(SaveShipping("a", CONFIG, "ops"), uow(repository))
    items = await shipping.shipping_readiness(uow(repository), "a")
    assert [i.code for i in items] == ["shipping_not_applied"]
    assert "never applied" in items[0].message and "/shipping/apply" in items[0].message
    repository.applied()
    repository.lists = {(0, "PL"): "light"}  # one band's row missing
    items = await shipping.shipping_readiness(uow(repository), "a")
    assert [i.code for i in items] == ["shipping_lists_not_recorded"]
    repository.lists[(1, "PL")] = "heavy"
    assert await shipping.shipping_readiness(uow(repository), "a") == []
    await shipping.save_shipping(SaveShipping("a", CONFIG, "ops"), uow(repository))
    items = await shipping.shipping_readiness(uow(repository), "a")
    assert [i.code for i in items] == ["shipping_not_applied"]
    assert "changed since applied" in items[0].message


async def test_an_apply_needs_a_configuration_and_a_free_account() -> None:
    repository = FakeShippingRepository()
    with pytest.raises(Conflict) as missing:
        await shipping.claim_apply(ClaimApply("a", 60), uow(repository))
    assert missing.value.code == "shipping_not_configured"
    await shipping.save_shipping(SaveShipping("a", CONFIG, "ops"), uow(repository))
    state = await shipping.claim_apply(ClaimApply("a", 60), uow(repository))
    assert state.configuration == CONFIG
    with pytest.raises(Conflict) as busy:
        await shipping.claim_apply(ClaimApply("a", 60), uow(repository))
    assert busy.value.code == "apply_in_progress"
