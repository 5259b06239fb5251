"""Writers of the offers service interleaved deterministically on real PostgreSQL: each test
holds one transaction open at the moment that matters (a lock taken, a statement run) while
another one runs, instead of hoping a race happens. No service runs here: the handlers are
called on connections the test owns.

- A readiness change and a price handler that read the account as not ready: no offer is
  left waiting on nothing, nor waiting for a readiness the account has.
- A worker's readiness check and an operator's: the one granted later is stored, whatever
  the order their transactions began in.
- The offer-event reader: an offer changed after Allegro's read, or in a batch command in
  flight, is not repaired; a seller's edit whose event was skipped because our own command's
  result was stored after Allegro's read is compared again once that change has settled (and
  not while a command of ours is in flight), with the skipped event as its evidence.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mci_testing.fixtures import MakeDatabase
from mci_testing.infra import wait_until
from offers import handlers
from offers.domain import commands as c
from offers.domain import drift as d
from offers.domain import sync
from offers.drift import claim_events, drift_summary, events_read
from offers.main import MIGRATIONS
from offers.repository import OffersRepository
from offers.sync_repository import SyncRepository
from shared.db import create_engine
from shared.events import CatalogItem, CatalogUpdated, Money, PriceComputed, PricedItem
from shared.uow import UnitOfWork, UnitsOfWork

T = TypeVar("T")

PRICES = {"allegro-pl": Money(amount=Decimal("49.90"), currency="PLN")}
OK = [{"item": "return_policy", "status": "ok", "id": "rp"}]
MISSING = [{"item": "return_policy", "status": "missing", "fix": "create it"}]


@pytest.fixture(scope="module")
async def engine(make_database: MakeDatabase) -> AsyncIterator[AsyncEngine]:
    found = create_engine(await make_database("offers_interleavings", MIGRATIONS), pool_size=3)
    yield found
    await found.dispose()


def new_account() -> str:
    return f"acct-{uuid.uuid4().hex[:8]}"


async def add_account(engine: AsyncEngine, account: str, readiness: str) -> None:
    """An account as a stored check left it (nothing due: no worker runs here anyway)."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO publication_accounts (account_id, readiness, check_due_at)"
                " VALUES (:a, :r, NULL)"
            ),
            {"a": account, "r": readiness},
        )


def item(sku: str) -> CatalogItem:
    return CatalogItem(
        sku=sku, revision=1, listed=True, ean="5901234123457", title="A product title", stock=5
    )


async def offer(engine: AsyncEngine, account: str, sku: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text(
                    "SELECT state, waiting_for, work FROM offers WHERE account_id = :a"
                    " AND sku = :sku"
                ),
                {"a": account, "sku": sku},
            )
        ).one()
    return dict(row._mapping)


async def waiting_on_nothing(engine: AsyncEngine) -> list[tuple[str, str]]:
    """Offers in state waiting that wait for nothing: they would wait forever."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT account_id, sku FROM offers WHERE state = 'waiting'"
                " AND COALESCE(cardinality(waiting_for), 0) = 0"
            )
        )
        return [(r[0], r[1]) for r in rows]


async def pid(conn: AsyncConnection) -> int:
    return int(await conn.scalar(sa.text("SELECT pg_backend_pid()")))


async def blocked_or_done(engine: AsyncEngine, backend: int, task: asyncio.Task[Any]) -> None:
    """Wait until `task` (running on the backend `backend`) waits for a lock, or has ended."""

    async def settled() -> bool:
        if task.done():
            return True
        async with engine.connect() as conn:
            waiting = await conn.scalar(
                sa.text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"),
                {"p": backend},
            )
        return bool(waiting)

    await wait_until(settled, within=30, interval=0.02)


async def in_transaction(conn: AsyncConnection, work: Awaitable[T]) -> T:
    """`work` on `conn`'s open transaction, committed."""
    found = await work
    await conn.commit()
    return found


# --- readiness gained while offers are being decided ------------------------------------------


async def test_readiness_gained_never_leaves_an_offer_waiting_on_nothing(
    engine: AsyncEngine,
) -> None:
    """A price handler that read the account as not ready moves an offer to waiting for the
    readiness alone and commits while the readiness change is releasing the waiting offers;
    the offer is checked, never left waiting on nothing."""
    account, sku = new_account(), "SKU-PRICED-LATE"
    await add_account(engine, account, "not_ready")
    units = UnitsOfWork(engine, "offers")
    await units.handle(
        handlers.catalog_updated, CatalogUpdated(account_id=account, items=[item(sku)])
    )
    assert (await offer(engine, account, sku))["waiting_for"] == ["price", "readiness"]

    async with engine.connect() as pricing, engine.connect() as readiness:
        # The price handler reads the account (not ready) and moves the offer to waiting for
        # the readiness alone; not committed yet.
        await handlers.price_computed(
            PriceComputed(
                account_id=account,
                items=[PricedItem(sku=sku, catalog_revision=1, prices=PRICES)],
            ),
            UnitOfWork(pricing, "offers"),
        )
        # The account became ready meanwhile: offers waiting for it are released (the
        # repository's statement alone, without the account's lock: that one is the next
        # test's).
        backend = await pid(readiness)
        released = asyncio.create_task(
            in_transaction(readiness, OffersRepository(readiness).readiness_gained(account))
        )
        await blocked_or_done(engine, backend, released)
        assert not released.done()  # it waits for the offer the price handler holds
        await pricing.commit()
        await released

    found = await offer(engine, account, sku)
    assert (found["state"], found["waiting_for"], found["work"]) == ("checking", [], "check")
    assert await waiting_on_nothing(engine) == []


async def test_a_readiness_change_waits_for_the_offers_decided_on_the_readiness_before_it(
    engine: AsyncEngine,
) -> None:
    """A catalogue handler read the account as not ready and made a new offer waiting for the
    readiness; the account's check finds it ready before that commits. The check waits for
    the handler (its share of the account's row), then releases the new offer too: no offer
    waits for a readiness the account has."""
    account, sku = new_account(), "SKU-NEW-WHILE-CHECKED"
    await add_account(engine, account, "not_ready")
    async with engine.connect() as catalogue, engine.connect() as check:
        await handlers.catalog_updated(
            CatalogUpdated(account_id=account, items=[item(sku)]), UnitOfWork(catalogue, "offers")
        )
        await handlers.price_computed(
            PriceComputed(
                account_id=account,
                items=[PricedItem(sku=sku, catalog_revision=1, prices=PRICES)],
            ),
            UnitOfWork(catalogue, "offers"),
        )
        backend = await pid(check)
        found = asyncio.create_task(
            in_transaction(
                check,
                handlers.readiness_found(
                    c.ReadinessFound(account, OK, {"return_policy": "rp"}, 300),
                    UnitOfWork(check, "offers"),
                ),
            )
        )
        await blocked_or_done(engine, backend, found)
        assert not found.done()  # it waits for the catalogue handler's share of the account
        await catalogue.commit()
        assert (await found)["readiness"] == "ready"

    assert (await offer(engine, account, sku))["state"] == "checking"
    assert await waiting_on_nothing(engine) == []


async def test_a_price_before_the_catalogue_waits_for_the_content(engine: AsyncEngine) -> None:
    account, sku = new_account(), "SKU-PRICED-FIRST"
    await add_account(engine, account, "ready")
    units = UnitsOfWork(engine, "offers")
    await units.handle(
        handlers.price_computed,
        PriceComputed(
            account_id=account, items=[PricedItem(sku=sku, catalog_revision=1, prices=PRICES)]
        ),
    )
    assert (await offer(engine, account, sku))["waiting_for"] == ["content"]
    await units.handle(
        handlers.catalog_updated, CatalogUpdated(account_id=account, items=[item(sku)])
    )
    assert (await offer(engine, account, sku))["state"] == "checking"


async def test_the_database_refuses_an_offer_waiting_on_nothing(engine: AsyncEngine) -> None:
    """Whatever writes it (a handler, a repair, an operator's SQL): the constraint holds."""
    account = new_account()
    await add_account(engine, account, "ready")
    with pytest.raises(sa.exc.IntegrityError, match="offers_waiting_for_something"):
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO offers (account_id, sku, state, waiting_for)"
                    " VALUES (:a, 'SKU-NOTHING', 'waiting', '{}')"
                ),
                {"a": account},
            )
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO offers (account_id, sku, state, waiting_for)"
                " VALUES (:a, 'SKU-STOCK', 'waiting', ARRAY['stock'])"
            ),
            {"a": account},
        )
    with pytest.raises(sa.exc.IntegrityError, match="offers_waiting_for_something"):
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "UPDATE offers SET waiting_for = array_remove(waiting_for, 'stock')"
                    " WHERE account_id = :a"
                ),
                {"a": account},
            )


# --- readiness checks: the one granted later is stored ----------------------------------------


async def test_a_check_granted_later_is_stored_whatever_the_order_its_transaction_began_in(
    engine: AsyncEngine,
) -> None:
    """The operator's check begins its transaction (the account made known), the worker's
    claim of the account's first check is granted meanwhile, then the operator's. The worker
    read Allegro before the operator's check created what was missing: its result, stored
    first or last, never replaces the operator's."""
    account = new_account()
    units = UnitsOfWork(engine, "offers")
    await units.handle(
        handlers.save_readiness_input, c.SaveReadinessInput(account, None, "Keep dry.", None)
    )
    async with engine.connect() as operator:
        await OffersRepository(operator).ensure_account(account)  # its transaction began
        worker = await units.handle(handlers.claim_readiness_check, c.ClaimReadinessCheck(60))
        assert worker is not None and worker.account_id == account
        checked = await in_transaction(
            operator,
            handlers.begin_readiness_check(
                c.BeginReadinessCheck(account, 60), UnitOfWork(operator, "offers")
            ),
        )
    assert checked.number > worker.number

    stale = await units.handle(
        handlers.readiness_found, c.ReadinessFound(account, MISSING, {}, 300, worker.number)
    )
    assert stale["readiness"] == "not_ready"  # stored: nothing newer is
    found = await units.handle(
        handlers.readiness_found,
        c.ReadinessFound(account, OK, {"return_policy": "rp"}, 300, checked.number),
    )
    assert found["readiness"] == "ready" and found["items"] == OK
    again = await units.handle(
        handlers.readiness_found, c.ReadinessFound(account, MISSING, {}, 300, worker.number)
    )
    assert again["readiness"] == "ready" and again["items"] == OK


# --- the offer-event reader ------------------------------------------------------------------


async def live(engine: AsyncEngine, account: str, sku: str, **columns: Any) -> None:
    """A live offer as published: 49.90 PLN and 5 pieces wanted and sent."""
    price = '{"allegro-pl": {"amount": "49.90", "currency": "PLN"}}'
    values = {
        "state": "active",
        "offer_id": f"O-{sku}",
        "listed": True,
        "stock": 5,
        "sent_stock": 5,
        "claimed_until": None,
        "sync_command_id": None,
        **columns,
    }
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO offers (account_id, sku, state, offer_id, listed, stock, sent_stock,"
                " prices, sent_prices, claimed_until, sync_command_id, updated_at)"
                " VALUES (:a, :sku, :state, :offer_id, :listed, :stock, :sent_stock,"
                " CAST(:price AS jsonb), CAST(:price AS jsonb), :claimed_until,"
                " CAST(:sync_command_id AS uuid), COALESCE(:updated_at, now()))"
            ),
            {"a": account, "sku": sku, "price": price, "updated_at": None, **values},
        )


async def events_claim(engine: AsyncEngine, account: str) -> d.EventsClaim:
    async with engine.begin() as conn:
        held = await conn.scalar(
            sa.text(
                "INSERT INTO offer_event_cursors (account_id, claimed_until)"
                " VALUES (:a, now() + interval '1 minute') RETURNING claimed_until"
            ),
            {"a": account},
        )
    return d.EventsClaim(account, None, held)


def price_changed(number: int, sku: str) -> dict[str, Any]:
    return {
        "id": f"event-{number}",
        "type": "OFFER_PRICE_CHANGED",
        "occurredAt": "2026-12-02T10:00:00Z",
        "offer": {"id": f"O-{sku}", "external": {"id": sku}},
    }


def seller_priced(sku: str) -> list[d.OnAllegro]:
    """Allegro's offer of the SKU as read: the seller set 39.90 PLN."""
    return [d.OnAllegro(f"O-{sku}", sku, "ACTIVE", {"amount": "39.90", "currency": "PLN"}, 5)]


async def drift_and_sent(engine: AsyncEngine, account: str) -> dict[str, tuple[Any, Any]]:
    """Per SKU: the repair of its drift recorded (`absent` without one), its sent price."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT o.sku, COALESCE(f.repair, CASE WHEN f.id IS NULL THEN 'absent' END),"
                " o.sent_prices -> 'allegro-pl' ->> 'amount'"
                " FROM offers o LEFT JOIN offer_drift f"
                "  ON f.account_id = o.account_id AND f.sku = o.sku"
                " WHERE o.account_id = :a"
            ),
            {"a": account},
        )
        return {r[0]: (r[1], r[2]) for r in rows}


async def test_an_offer_changed_after_allegros_read_is_not_compared(engine: AsyncEngine) -> None:
    """Allegro's offers were read at `read_at`; an offer we changed since (an END sent, a
    price stored) is skipped on this page: Allegro's read may show what our change replaced.
    One changed before the read is compared and repaired."""
    account = new_account()
    await add_account(engine, account, "ready")
    async with engine.connect() as conn:
        read_at = await conn.scalar(sa.text("SELECT now()"))
    await live(engine, account, "SKU-BEFORE", updated_at=read_at - timedelta(seconds=1))
    await live(engine, account, "SKU-AFTER", updated_at=read_at + timedelta(seconds=1))
    claim = await events_claim(engine, account)
    skus = ("SKU-BEFORE", "SKU-AFTER")
    recorded = await UnitsOfWork(engine, "offers").handle(
        events_read,
        d.EventsRead(
            claim,
            [price_changed(n, sku) for n, sku in enumerate(skus)],
            {sku: seller_priced(sku) for sku in skus},
            None,
            30.0,
            0.0,
            read_at,
        ),
    )
    assert recorded is not None and [r.kind for r in recorded] == ["price"]
    assert await drift_and_sent(engine, account) == {
        "SKU-BEFORE": ("resend", "39.90"),  # Allegro's price is the sent one: ours goes again
        "SKU-AFTER": ("absent", "49.90"),
    }


async def test_an_offer_the_worker_or_a_batch_command_holds_is_reported_not_repaired(
    engine: AsyncEngine,
) -> None:
    """Held by the publisher's claim, or in a batch command in flight: the difference is
    recorded without a repair (the command's result is about to change the sent values); a
    free offer is repaired."""
    account = new_account()
    await add_account(engine, account, "ready")
    async with engine.connect() as conn:
        read_at = await conn.scalar(sa.text("SELECT now() + interval '1 second'"))
    await live(engine, account, "SKU-FREE")
    await live(engine, account, "SKU-IN-COMMAND", sync_command_id=str(uuid.uuid4()))
    await live(engine, account, "SKU-CLAIMED", claimed_until=read_at + timedelta(minutes=1))
    claim = await events_claim(engine, account)
    skus = ("SKU-FREE", "SKU-IN-COMMAND", "SKU-CLAIMED")
    recorded = await UnitsOfWork(engine, "offers").handle(
        events_read,
        d.EventsRead(
            claim,
            [price_changed(n, sku) for n, sku in enumerate(skus)],
            {sku: seller_priced(sku) for sku in skus},
            None,
            30.0,
            0.0,
            read_at,
        ),
    )
    assert recorded is not None and len(recorded) == 3
    assert await drift_and_sent(engine, account) == {
        "SKU-FREE": ("resend", "39.90"),
        "SKU-IN-COMMAND": (None, "49.90"),
        "SKU-CLAIMED": (None, "49.90"),
    }


async def due_first(engine: AsyncEngine, account: str) -> d.EventsClaim:
    """The reader's next round of the account: its cursor due before every other account's
    (other tests' accounts share the database), claimed by the reader's own handler."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO offer_event_cursors (account_id) VALUES (:a)"
                " ON CONFLICT (account_id) DO NOTHING"
            ),
            {"a": account},
        )
        await conn.execute(
            sa.text(
                "UPDATE offer_event_cursors SET due_at = '-infinity', claimed_until = NULL"
                " WHERE account_id = :a"
            ),
            {"a": account},
        )
    claim = await UnitsOfWork(engine, "offers").handle(claim_events, d.ClaimEvents(60.0))
    assert claim is not None and claim.account_id == account
    return claim


async def now(engine: AsyncEngine) -> Any:
    async with engine.connect() as conn:
        return await conn.scalar(sa.text("SELECT clock_timestamp()"))


async def command_result_stored(engine: AsyncEngine, account: str, sku: str) -> None:
    """The worker stores our stock command's result: what Allegro holds, the offer free."""
    async with engine.begin() as conn:
        await SyncRepository(conn).sent(account, [sku], sync.QUANTITY, None, {"quantity": 5}, None)


async def kept(engine: AsyncEngine, account: str) -> dict[str, list[str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT sku, events FROM offer_drift_rechecks WHERE account_id = :a ORDER BY sku"
            ),
            {"a": account},
        )
        return {r.sku: [e["id"] for e in r.events] for r in rows}


async def event_drift(engine: AsyncEngine, account: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT sku, kind, repair, event_id, event_type, allegro ->> 'amount'"
                " FROM offer_drift WHERE account_id = :a ORDER BY id"
            ),
            {"a": account},
        )
        return [tuple(r) for r in rows]


async def rechecks_waiting(engine: AsyncEngine, account: str) -> int:
    """What the drift summary shows of the account's offers waiting for a recheck."""
    found = await UnitsOfWork(engine, "offers").read(drift_summary, d.GetDriftSummary(account))
    return int(found["events"]["rechecks_waiting"])


async def skipped_behind_our_command(engine: AsyncEngine) -> str:
    """An account whose offer "SKU" the reader skipped: our command landed, the seller set
    39.90 on allegro.pl, the events page was read, then our command's result was stored."""
    account = new_account()
    await add_account(engine, account, "ready")
    await live(engine, account, "SKU", sync_command_id=str(uuid.uuid4()))  # our command
    first = await due_first(engine, account)
    read_at = await now(engine)  # the page read: the seller's 39.90 is on Allegro
    await command_result_stored(engine, account, "SKU")
    skipped = await UnitsOfWork(engine, "offers").handle(
        events_read,
        d.EventsRead(
            first,
            [price_changed(1, "SKU")],
            {"SKU": seller_priced("SKU")},
            None,
            30.0,
            0.0,
            read_at,
        ),
    )
    assert skipped == []
    return account


async def test_a_seller_edit_skipped_behind_our_command_is_compared_once_it_settled(
    engine: AsyncEngine,
) -> None:
    """Our stock command lands on Allegro, the seller sets a price on allegro.pl, the reader
    reads the events page (`read_at`), and only then the worker stores our command's result:
    the offer changed after the read and is skipped, and the seller edits once (no later
    event). The reader's next round reads the offer again and records the seller's price
    under the skipped event, repaired."""
    account = await skipped_behind_our_command(engine)
    handle = UnitsOfWork(engine, "offers").handle
    assert await event_drift(engine, account) == []
    assert await rechecks_waiting(engine, account) == 1

    # The next round: no new event (the seller edited once); Allegro read after our change.
    second = await due_first(engine, account)
    read_again = await now(engine)
    recorded = await handle(
        events_read,
        d.EventsRead(second, [], {"SKU": seller_priced("SKU")}, None, 30.0, 0.0, read_again),
    )
    assert recorded is not None and [r.kind for r in recorded] == ["price"]
    assert await event_drift(engine, account) == [
        ("SKU", "price", "resend", "event-1", "OFFER_PRICE_CHANGED", "39.90")
    ]
    assert await drift_and_sent(engine, account) == {"SKU": ("resend", "39.90")}
    # The reader asked Allegro for it, and it is checked once: nothing is kept any more.
    assert second.rechecks == ("SKU",)
    assert await kept(engine, account) == {}
    assert await rechecks_waiting(engine, account) == 0
    third = await due_first(engine, account)
    assert third.rechecks == ()


async def test_a_recheck_waits_for_our_command_in_flight_one_per_offer(
    engine: AsyncEngine,
) -> None:
    """A skipped offer that a batch command of ours holds again is not read meanwhile (the
    command's result is about to change what was sent); a later event of it while it is held
    joins the one recheck the offer has; once the command's result is stored, the offer is
    compared with both events as evidence (each difference under the last that carries it)."""
    account = await skipped_behind_our_command(engine)
    handle = UnitsOfWork(engine, "offers").handle
    async with engine.begin() as conn:  # another command of ours goes out for it
        await conn.execute(
            sa.text("UPDATE offers SET sync_command_id = CAST(:c AS uuid) WHERE account_id = :a"),
            {"a": account, "c": str(uuid.uuid4())},
        )
    second = await due_first(engine, account)
    assert second.rechecks == ()  # not read while our command is out
    stocked = {**price_changed(2, "SKU"), "type": "OFFER_STOCK_CHANGED"}
    there = [d.OnAllegro("O-SKU", "SKU", "ACTIVE", {"amount": "39.90", "currency": "PLN"}, 9)]
    held = await handle(
        events_read,
        d.EventsRead(second, [stocked], {"SKU": there}, None, 30.0, 0.0, await now(engine)),
    )
    assert held == [] and await kept(engine, account) == {"SKU": ["event-1", "event-2"]}

    await command_result_stored(engine, account, "SKU")
    third = await due_first(engine, account)
    assert third.rechecks == ("SKU",)
    recorded = await handle(
        events_read, d.EventsRead(third, [], {"SKU": there}, None, 30.0, 0.0, await now(engine))
    )
    assert recorded is not None and sorted(r.kind for r in recorded) == ["price", "stock"]
    assert sorted(await event_drift(engine, account)) == [
        ("SKU", "price", "resend", "event-1", "OFFER_PRICE_CHANGED", "39.90"),
        ("SKU", "stock", "resend", "event-2", "OFFER_STOCK_CHANGED", None),
    ]
    assert await kept(engine, account) == {}


async def test_a_claim_takes_due_polls_first_then_the_steps_due_longest(
    engine: AsyncEngine,
) -> None:
    """Polls before any other step, each part in the order it fell due; not a step due later,
    held by another claim, or (without reads) a poll or a read-back. Due in 2000, before any
    other test's offer, so the module's other offers are not claimed here."""
    account = new_account()
    await add_account(engine, account, "ready")
    early = datetime(2000, 1, 1, tzinfo=UTC)
    never = datetime(2999, 1, 1, tzinfo=UTC)
    minute = timedelta(minutes=1)
    due = {
        "SKU-VERIFY": ("verify", early, None),
        "SKU-CHECK-1": ("check", early + minute, None),
        "SKU-CHECK-2": ("check", early + 2 * minute, None),
        "SKU-POLL": ("poll", early + 5 * minute, None),
        "SKU-POLL-LATER": ("poll", never, None),
        "SKU-HELD": ("check", early, never),
    }
    async with engine.begin() as conn:
        for sku, (work, due_at, claimed_until) in due.items():
            await conn.execute(
                sa.text(
                    "INSERT INTO offers (account_id, sku, state, work, due_at, claimed_until)"
                    " VALUES (:a, :sku, 'checking', :work, :due, :held)"
                ),
                {"a": account, "sku": sku, "work": work, "due": due_at, "held": claimed_until},
            )
    units = UnitsOfWork(engine, "offers")

    async def claim(n: int, reads: bool) -> list[str]:
        claimed = await units.handle(handlers.claim_offers, c.ClaimOffers(n, 60.0, reads))
        return sorted(o.sku for o in claimed if o.account_id == account)

    assert await claim(3, reads=True) == ["SKU-CHECK-1", "SKU-POLL", "SKU-VERIFY"]
    async with engine.begin() as conn:  # the read-back is due again, the poll not
        await conn.execute(
            sa.text(
                "UPDATE offers SET claimed_until = NULL WHERE account_id = :a"
                " AND sku = 'SKU-VERIFY'"
            ),
            {"a": account},
        )
    assert await claim(2, reads=False) == ["SKU-CHECK-2"]
    assert await claim(2, reads=True) == ["SKU-VERIFY"]
