"""Handlers on a fake unit of work: what the catalogue and prices do to an offer's state, only
newer revisions applied, readiness releasing waiting offers, and the events an outcome emits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from prometheus_client import REGISTRY

from mci_testing.fake_uow import FakeUnitOfWork
from offers import handlers, metrics
from offers.domain import commands as c
from offers.domain import states
from offers.repository import OffersRepository
from shared.events import (
    CatalogItem,
    CatalogUpdated,
    Money,
    OfferEnded,
    OfferFailed,
    OfferPublished,
    PriceComputed,
    PricedItem,
)

ACCOUNT = "acct-1"
CLAIM = datetime(2026, 12, 1, tzinfo=UTC)


class FakeOffersRepository:
    def __init__(self, readiness: str = "ready") -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.readiness = readiness
        self.offers: dict[tuple[str, str], dict[str, Any]] = {}
        self.transitions: list[tuple[str, str | None, str, str]] = []

    async def ensure_account(self, account_id: str) -> None:
        self.accounts.setdefault(
            account_id,
            {"readiness": self.readiness, "base_marketplace": "allegro-pl", "paused": False},
        )

    async def account(self, account_id: str, *, for_share: bool = False) -> dict[str, Any] | None:
        return self.accounts.get(account_id)

    async def counts_by_state_and_marketplace(self) -> list[tuple[str, str, int]]:
        counts: dict[tuple[str, str], int] = {}
        for (account_id, _), offer in self.offers.items():
            key = offer["state"], self.accounts[account_id]["base_marketplace"]
            counts[key] = counts.get(key, 0) + 1
        return [(state, marketplace, n) for (state, marketplace), n in counts.items()]

    def _new(self, account_id: str, sku: str) -> dict[str, Any]:
        return {
            "account_id": account_id,
            "sku": sku,
            "state": states.WAITING,
            "waiting_for": [],
            "reason": None,
            "offer_id": None,
            "allegro_status": None,
            "marketplaces": {},
            "listed": False,
            "content": None,
            "catalog_revision": 0,
            "stock": 0,
            "prices": {},
            "unpriced": {},
            "price_revision": 0,
            "sent_prices": None,
            "sent_stock": None,
            "work": None,
            "claimed_until": None,
        }

    async def offers_for_update(
        self, account_id: str, skus: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        return {
            s: dict(self.offers[(account_id, s)]) for s in skus if (account_id, s) in self.offers
        }

    async def save_contents(
        self, account_id: str, contents: Sequence[c.Content]
    ) -> dict[str, dict[str, Any]]:
        saved = {}
        for found in sorted(contents, key=lambda found: found.sku):
            made = (account_id, found.sku) not in self.offers
            row = self.offers.setdefault((account_id, found.sku), self._new(account_id, found.sku))
            if made:
                row["waiting_for"] = ["price"] if found.content else ["content", "price"]
            row.update(listed=found.listed, catalog_revision=found.revision, stock=found.stock)
            if found.content is not None:
                row["content"] = found.content
            saved[found.sku] = {**row, "state": None} if made else dict(row)
        return saved

    async def save_prices(
        self, account_id: str, prices: Sequence[c.Prices]
    ) -> dict[str, dict[str, Any]]:
        saved = {}
        for found in sorted(prices, key=lambda found: found.sku):
            made = (account_id, found.sku) not in self.offers
            row = self.offers.setdefault((account_id, found.sku), self._new(account_id, found.sku))
            if made:
                row["waiting_for"] = ["content"]
            row.update(prices=found.prices, unpriced=found.unpriced, price_revision=found.revision)
            saved[found.sku] = {**row, "state": None} if made else dict(row)
        return saved

    async def move(
        self,
        account_id: str,
        sku: str,
        from_state: str | None,
        to_state: str | None,
        cause: str,
        *,
        waiting_for: Sequence[str] = (),
        work: str | None = None,
        reason: dict[str, Any] | None = None,
    ) -> None:
        move = c.Move(sku, from_state, to_state, cause, tuple(waiting_for), work, reason)
        await self.moves(account_id, [move])

    async def moves(self, account_id: str, moves: Sequence[c.Move]) -> None:
        for move in moves:
            row = self.offers[(account_id, move.sku)]
            row.update(
                state=move.to_state or move.from_state,
                waiting_for=list(move.waiting_for),
                work=move.work,
            )
            if move.to_state is not None and move.to_state != move.from_state:
                row["reason"] = move.reason
                self.transitions.append((move.sku, move.from_state, move.to_state, move.cause))

    async def save_readiness(
        self,
        account_id: str,
        readiness: str,
        items: list[dict[str, Any]],
        ids: dict[str, str | None],
        recheck_in_seconds: float | None,
        check_number: int | None = None,
    ) -> tuple[str, bool]:
        before = str(self.accounts[account_id]["readiness"])
        self.accounts[account_id]["readiness"] = readiness
        return before, True

    async def readiness_gained(self, account_id: str) -> int:
        moved = 0
        for (account, _), row in self.offers.items():
            waiting = row["state"] == states.WAITING and "readiness" in row["waiting_for"]
            if account != account_id or not waiting:
                continue
            row["waiting_for"] = [w for w in row["waiting_for"] if w != "readiness"]
            if not row["waiting_for"]:
                row.update(state=states.CHECKING, work=states.CHECK)
                moved += 1
        return moved

    async def readiness_lost(self, account_id: str) -> None:
        return None

    async def store_outcome(
        self, outcome: c.Outcome
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        row = self.offers.get((outcome.account_id, outcome.sku))
        if row is None or row["claimed_until"] != outcome.claimed_until:
            return None
        held = {"state": row["state"], "work": row["work"]}
        row.update(work=outcome.work, claimed_until=None)
        if outcome.state is not None:
            row.update(state=outcome.state, reason=outcome.reason)
            if outcome.state != held["state"]:
                self.transitions.append((outcome.sku, held["state"], outcome.state, outcome.cause))
        for key in ("offer_id", "allegro_status", "marketplaces"):
            if getattr(outcome, key) is not None:
                row[key] = getattr(outcome, key)
        if outcome.sent:
            row.update(sent_prices=outcome.sent.get("prices"), sent_stock=outcome.sent.get("stock"))
            if outcome.sent.get("handling_time"):
                row["sent_handling_time"] = outcome.sent["handling_time"]
            if outcome.sent.get("images") is not None:
                row["sent_images"] = outcome.sent["images"]
        return held, dict(row)

    async def offer(self, account_id: str, sku: str) -> dict[str, Any] | None:
        row = self.offers.get((account_id, sku))
        return None if row is None else dict(row)


def unit(repo: FakeOffersRepository) -> FakeUnitOfWork:
    return FakeUnitOfWork({OffersRepository: repo})


def catalog(
    sku: str,
    revision: int,
    *,
    listed: bool = True,
    stock: int = 3,
    handling_days: int | None = None,
    images: list[str] | None = None,
) -> CatalogUpdated:
    return CatalogUpdated(
        account_id=ACCOUNT,
        items=[
            CatalogItem(
                sku=sku,
                revision=revision,
                listed=listed,
                ean="5901234123457",
                title="Czajnik elektryczny Acme",
                allegro_category_id="1521",
                stock=stock,
                handling_days=handling_days,
                images=images or [],
            )
        ],
    )


def prices(sku: str, revision: int, amount: str = "49.90") -> PriceComputed:
    return PriceComputed(
        account_id=ACCOUNT,
        items=[
            PricedItem(
                sku=sku,
                catalog_revision=revision,
                prices={"allegro-pl": Money(amount=Decimal(amount), currency="PLN")},
            )
        ],
    )


class TestCatalogAndPrices:
    async def test_content_then_price_makes_the_offer_checked(self) -> None:
        repo = FakeOffersRepository()
        await handlers.catalog_updated(catalog("A", 1), unit(repo))
        row = repo.offers[(ACCOUNT, "A")]
        assert row["state"] == states.WAITING and row["waiting_for"] == ["price"]
        await handlers.price_computed(prices("A", 1), unit(repo))
        assert row["state"] == states.CHECKING and row["work"] == states.CHECK
        assert [t[1:3] for t in repo.transitions] == [(None, "waiting"), ("waiting", "checking")]

    async def test_older_revisions_change_nothing(self) -> None:
        repo = FakeOffersRepository()
        await handlers.catalog_updated(catalog("A", 5, stock=9), unit(repo))
        await handlers.catalog_updated(catalog("A", 4, stock=1), unit(repo))
        await handlers.price_computed(prices("A", 5, "10.00"), unit(repo))
        await handlers.price_computed(prices("A", 3, "99.00"), unit(repo))
        row = repo.offers[(ACCOUNT, "A")]
        assert row["stock"] == 9 and row["catalog_revision"] == 5
        assert row["prices"]["allegro-pl"]["amount"] == "10.00"

    async def test_a_withdrawn_product_never_sent_is_ended_without_a_write(self) -> None:
        repo = FakeOffersRepository()
        await handlers.catalog_updated(catalog("A", 1), unit(repo))
        await handlers.catalog_updated(catalog("A", 2, listed=False), unit(repo))
        row = repo.offers[(ACCOUNT, "A")]
        assert row["state"] == states.ENDED and row["work"] is None
        assert row["reason"]["code"] == "unselected"

    async def test_an_unknown_product_leaving_the_selection_is_ignored(self) -> None:
        repo = FakeOffersRepository()
        await handlers.catalog_updated(catalog("A", 1, listed=False), unit(repo))
        assert repo.offers == {}

    async def test_a_live_offer_sold_out_is_left_to_the_sync(self) -> None:
        # Its end goes out in a publication command (sync), not as a publisher step.
        repo = FakeOffersRepository()
        await handlers.catalog_updated(catalog("A", 1), unit(repo))
        repo.offers[(ACCOUNT, "A")].update(state=states.ACTIVE, offer_id="77")
        await handlers.catalog_updated(catalog("A", 2, stock=0), unit(repo))
        row = repo.offers[(ACCOUNT, "A")]
        assert row["state"] == states.ACTIVE and row["work"] is None and row["stock"] == 0


class TestImages:
    async def test_a_new_cover_of_a_live_offer_makes_an_edit_once(self) -> None:
        repo = FakeOffersRepository()
        cover, side, new_cover = (f"https://cdn.example/{n}.jpg" for n in (1, 2, 3))
        await handlers.catalog_updated(catalog("A", 1, images=[cover, side]), unit(repo))
        row = repo.offers[(ACCOUNT, "A")]
        row.update(state=states.ACTIVE, offer_id="77", work=None, sent_images=[cover, side])
        await handlers.catalog_updated(catalog("A", 2, images=[cover, side]), unit(repo))
        assert repo.offers[(ACCOUNT, "A")]["work"] is None  # the same gallery: nothing to send
        await handlers.catalog_updated(catalog("A", 3, images=[new_cover, side]), unit(repo))
        assert row["state"] == states.ACTIVE and row["work"] == states.IMAGES
        row["claimed_until"] = CLAIM
        sent = {"images": [new_cover, side], "image_locations": ["a", "b"]}
        outcome = c.Outcome(ACCOUNT, "A", CLAIM, None, "2 images sent", sent=sent)
        assert await handlers.store_outcome(outcome, unit(repo))
        assert row["work"] is None and row["sent_images"] == [new_cover, side]

    async def test_an_offer_never_given_images_by_us_gets_them_at_its_next_change(self) -> None:
        repo = FakeOffersRepository()
        await handlers.catalog_updated(catalog("A", 1), unit(repo))
        row = repo.offers[(ACCOUNT, "A")]
        row.update(state=states.ACTIVE, offer_id="77", work=None, sent_images=None)
        await handlers.catalog_updated(catalog("A", 2), unit(repo))
        assert repo.offers[(ACCOUNT, "A")]["work"] is None  # no image in the catalogue either
        await handlers.catalog_updated(catalog("A", 3, images=["https://c/1.jpg"]), unit(repo))
        assert row["work"] == states.IMAGES


class TestHandlingTime:
    async def live(self, repo: FakeOffersRepository, sent: str | None) -> dict[str, Any]:
        await handlers.catalog_updated(catalog("A", 1, handling_days=2), unit(repo))
        row = repo.offers[(ACCOUNT, "A")]
        row.update(state=states.ACTIVE, offer_id="77", work=None, sent_handling_time=sent)
        return row

    async def test_new_handling_days_of_a_live_offer_make_an_edit(self) -> None:
        repo = FakeOffersRepository()
        row = await self.live(repo, "P2D")
        await handlers.catalog_updated(catalog("A", 2, handling_days=2), unit(repo))
        assert repo.offers[(ACCOUNT, "A")]["work"] is None  # the same days: nothing to send
        await handlers.catalog_updated(catalog("A", 3, handling_days=4), unit(repo))
        assert row["state"] == states.ACTIVE and row["work"] == states.HANDLING_TIME
        # Sent: the outcome records it, and the offer settles with nothing more to do.
        row["claimed_until"] = CLAIM
        outcome = c.Outcome(
            ACCOUNT, "A", CLAIM, None, "handling time P4D sent", sent={"handling_time": "P4D"}
        )
        assert await handlers.store_outcome(outcome, unit(repo))
        assert row["work"] is None and row["sent_handling_time"] == "P4D"

    async def test_the_accounts_own_handling_time_is_the_minimum(self) -> None:
        repo = FakeOffersRepository()
        row = await self.live(repo, "P2D")
        repo.accounts[ACCOUNT]["handling_time"] = "P3D"
        await handlers.catalog_updated(catalog("A", 2, handling_days=1), unit(repo))
        assert row["work"] == states.HANDLING_TIME  # P3D wanted, P2D on Allegro

    async def test_a_pending_step_is_not_replaced(self) -> None:
        repo = FakeOffersRepository()
        row = await self.live(repo, "P2D")
        row["work"] = states.VERIFY
        await handlers.catalog_updated(catalog("A", 2, handling_days=5), unit(repo))
        assert row["work"] == states.VERIFY


class TestDriftRepairs:
    async def test_a_recreated_offer_is_checked_again_by_the_state_machine(self) -> None:
        # Drift's RECREATE forgets the offer's id and starts it over: from its state straight
        # to the checks, never stored waiting for nothing on the way.
        repo = FakeOffersRepository()
        await handlers.catalog_updated(catalog("A", 1), unit(repo))
        await handlers.price_computed(prices("A", 1), unit(repo))
        repo.offers[(ACCOUNT, "A")].update(state=states.ACTIVE, work=None, offer_id=None)
        await handlers.offer_repaired(
            c.OfferRepaired(ACCOUNT, "A", "drift: missing_on_allegro (recreate)", True),
            unit(repo),
        )
        row = repo.offers[(ACCOUNT, "A")]
        assert row["state"] == states.CHECKING and row["work"] == states.CHECK
        assert repo.transitions[-1] == (
            "A",
            states.ACTIVE,
            states.CHECKING,
            "drift: missing_on_allegro (recreate)",
        )

    async def test_a_recreated_offer_out_of_stock_waits_for_stock(self) -> None:
        repo = FakeOffersRepository()
        await handlers.catalog_updated(catalog("A", 1, stock=0), unit(repo))
        await handlers.price_computed(prices("A", 1), unit(repo))
        repo.offers[(ACCOUNT, "A")].update(state=states.ACTIVE, work=None, offer_id=None)
        await handlers.offer_repaired(c.OfferRepaired(ACCOUNT, "A", "drift", True), unit(repo))
        row = repo.offers[(ACCOUNT, "A")]
        assert row["state"] == states.WAITING and row["waiting_for"] == ["stock"]

    async def test_an_unknown_offer_is_left_alone(self) -> None:
        repo = FakeOffersRepository()
        await handlers.offer_repaired(c.OfferRepaired(ACCOUNT, "nope", "drift"), unit(repo))
        assert repo.offers == {} and repo.transitions == []


class TestReadiness:
    async def test_offers_wait_for_a_not_ready_account_and_go_on_when_it_is(self) -> None:
        repo = FakeOffersRepository(readiness="not_ready")
        await handlers.catalog_updated(catalog("A", 1), unit(repo))
        await handlers.price_computed(prices("A", 1), unit(repo))
        row = repo.offers[(ACCOUNT, "A")]
        assert row["waiting_for"] == ["readiness"]
        items = [{"item": "return_policy", "status": "ok", "id": "rp"}]
        uow = unit(repo)
        # readiness() reads the account back: give the fake what the query needs.
        repo.accounts[ACCOUNT].update(
            readiness_items=items,
            return_policy_id="rp",
            implied_warranty_id=None,
            shipping_rates_id=None,
            responsible_producer_id=None,
            marketplaces=["allegro-pl"],
            checked_at=None,
        )
        found = await handlers.readiness_found(
            c.ReadinessFound(ACCOUNT, items, {"return_policy": "rp"}, 300), uow
        )
        assert found["readiness"] == "ready"
        assert row["state"] == states.CHECKING and row["work"] == states.CHECK


def published_count(marketplace: str) -> float:
    return (
        REGISTRY.get_sample_value("mci_offers_published_total", {"marketplace": marketplace}) or 0
    )


def offers_gauge(state: str, marketplace: str) -> float | None:
    return REGISTRY.get_sample_value(
        "mci_offers_offers", {"state": state, "marketplace": marketplace}
    )


class TestOffersByState:
    async def test_the_gauge_counts_every_state_per_marketplace_and_zeroes_emptied_ones(
        self,
    ) -> None:
        repo = FakeOffersRepository()
        for sku in ("A", "B", "C"):
            await handlers.catalog_updated(catalog(sku, 1), unit(repo))
        await handlers.price_computed(prices("A", 1), unit(repo))
        repo.offers[(ACCOUNT, "C")]["state"] = states.ACTIVE
        repo.accounts[ACCOUNT]["base_marketplace"] = "allegro-test-cz"
        counts = await handlers.offers_by_state(c.CountOffersByState(), unit(repo))
        assert sorted((n.state, n.marketplace, n.offers) for n in counts) == [
            (states.ACTIVE, "allegro-test-cz", 1),
            (states.CHECKING, "allegro-test-cz", 1),
            (states.WAITING, "allegro-test-cz", 1),
        ]
        seen = metrics.report_offer_counts(counts, set())
        assert seen == {"allegro-test-cz"}
        assert offers_gauge(states.WAITING, "allegro-test-cz") == 1
        assert offers_gauge(states.ACTIVE, "allegro-test-cz") == 1
        assert offers_gauge(states.FAILED, "allegro-test-cz") == 0  # every state has a series
        assert published_count("allegro-test-cz") == 0  # the rate's series exists from the start
        # The account's offers all end: the next count holds none of the earlier states.
        for offer in repo.offers.values():
            offer["state"] = states.ENDED
        counts = await handlers.offers_by_state(c.CountOffersByState(), unit(repo))
        assert metrics.report_offer_counts(counts, seen) == seen
        assert offers_gauge(states.ENDED, "allegro-test-cz") == 3
        assert offers_gauge(states.ACTIVE, "allegro-test-cz") == 0
        assert offers_gauge(states.WAITING, "allegro-test-cz") == 0
        # No offer left at all: the marketplace seen before is reported at 0, not dropped.
        assert metrics.report_offer_counts([], seen) == seen
        assert offers_gauge(states.ENDED, "allegro-test-cz") == 0


class TestOutcomes:
    async def _claimed(self, repo: FakeOffersRepository, state: str) -> None:
        await handlers.catalog_updated(catalog("A", 1), unit(repo))
        await handlers.price_computed(prices("A", 1), unit(repo))
        repo.offers[(ACCOUNT, "A")].update(state=state, claimed_until=CLAIM)

    async def test_published_emits_offer_published_and_counts_it(self) -> None:
        repo = FakeOffersRepository()
        await self._claimed(repo, states.CREATING)
        uow = unit(repo)
        before = published_count("allegro-pl")
        stored = await handlers.store_outcome(
            c.Outcome(
                ACCOUNT,
                "A",
                CLAIM,
                states.ACTIVE,
                "created (201)",
                offer_id="77",
                allegro_status="ACTIVE",
                marketplaces={"allegro-pl": {"state": "ACTIVE"}},
                sent={"prices": {"allegro-pl": {"amount": "49.90", "currency": "PLN"}}, "stock": 3},
            ),
            uow,
        )
        assert stored
        [event] = uow.events
        assert isinstance(event, OfferPublished)
        assert event.offer_id == "77" and event.stock == 3
        assert event.price == Money(amount=Decimal("49.90"), currency="PLN")
        assert published_count("allegro-pl") == before + 1

    async def test_not_listable_emits_offer_failed_with_allegros_errors(self) -> None:
        repo = FakeOffersRepository()
        await self._claimed(repo, states.CREATING)
        uow = unit(repo)
        reason = states.reason("product_missing", [{"code": "ProductNotFoundException"}])
        await handlers.store_outcome(
            c.Outcome(ACCOUNT, "A", CLAIM, states.NOT_LISTABLE, "refused", reason=reason), uow
        )
        [event] = uow.events
        assert isinstance(event, OfferFailed) and event.state == "not_listable"
        assert event.reason.allegro_errors == [{"code": "ProductNotFoundException"}]

    async def test_ended_emits_offer_ended(self) -> None:
        repo = FakeOffersRepository()
        await self._claimed(repo, states.ACTIVE)
        repo.offers[(ACCOUNT, "A")].update(offer_id="77", listed=False)
        uow = unit(repo)
        await handlers.store_outcome(
            c.Outcome(
                ACCOUNT, "A", CLAIM, states.ENDED, "ended", reason=states.reason("unselected")
            ),
            uow,
        )
        [event] = uow.events
        assert isinstance(event, OfferEnded) and event.reason.code == "unselected"

    async def test_an_outcome_after_the_claim_ran_out_is_dropped(self) -> None:
        repo = FakeOffersRepository()
        await self._claimed(repo, states.CREATING)
        uow = unit(repo)
        other = datetime(2026, 12, 2, tzinfo=UTC)
        assert not await handlers.store_outcome(
            c.Outcome(ACCOUNT, "A", other, states.ACTIVE, "late", offer_id="1"), uow
        )
        assert uow.events == [] and repo.offers[(ACCOUNT, "A")]["state"] == states.CREATING

    async def test_a_withdrawal_during_the_create_ends_the_new_offer(self) -> None:
        repo = FakeOffersRepository()
        await self._claimed(repo, states.CREATING)
        repo.offers[(ACCOUNT, "A")]["listed"] = False  # arrived while the create was under way
        await handlers.store_outcome(
            c.Outcome(
                ACCOUNT,
                "A",
                CLAIM,
                states.ACTIVE,
                "created",
                offer_id="77",
                allegro_status="ACTIVE",
                work=states.VERIFY,
            ),
            unit(repo),
        )
        assert repo.offers[(ACCOUNT, "A")]["work"] == states.END
