"""Price and stock sync of live offers by Allegro's batch commands: which change an offer needs
next, how changes group into commands, and what a command's task result means. Pure: no I/O.

Allegro's commands give one value to every offer they name (a price command sets one price on
one marketplace, a quantity command one stock), so changes are grouped by (account, kind,
marketplace, value) and each group is cut into commands of at most 1,000 offers. An offer is in
at most one command at a time; what it wants is read again when that command is done, so only
the newest wanted value is ever sent after it (coalescing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from offers.domain import listing, states

PRICE = "price"
QUANTITY = "quantity"
PUBLICATION = "publication"
KINDS = (PRICE, QUANTITY, PUBLICATION)
END = "END"
ACTIVATE = "ACTIVATE"
# Allegro takes up to 1,000 offers in one command.
MAX_OFFERS_PER_COMMAND = 1000

# Task errors that say "later": another change of the offer is still being processed, or
# Allegro failed on its side. Any other task error is about the offer or the value and is
# surfaced to the operator instead of being sent again unchanged.
TRANSIENT_TASK_CODES = frozenset(
    {
        "InProgressTaskLimitReachedException",
        "OfferConflictException",
        "INTERNAL_ERROR",
        "InternalServerErrorException",
        "ServiceUnavailableException",
    }
)
NO_TASK = "NO_TASK_REPORTED"


@dataclass(frozen=True)
class OfferToSync:
    """A live or ended offer as held: what is wanted beside what Allegro was last sent."""

    account_id: str
    sku: str
    state: str
    offer_id: str | None
    listed: bool
    stock: int
    sent_stock: int | None
    prices: Mapping[str, Any]
    unpriced: Mapping[str, str]
    sent_prices: Mapping[str, Any]
    price_revision: int


@dataclass(frozen=True)
class Change:
    """One offer's next change: `value` is a price `{amount, currency}`, `{"quantity": n}` or
    `{"action": END | ACTIVATE}`."""

    account_id: str
    sku: str
    offer_id: str
    kind: str
    marketplace: str | None
    value: dict[str, Any]
    price_revision: int | None = None

    @property
    def group(self) -> tuple[str, str, str, str]:
        """Changes that can share one command."""
        value = orjson.dumps(self.value, option=orjson.OPT_SORT_KEYS).decode()
        return self.account_id, self.kind, self.marketplace or "", value


@dataclass(frozen=True)
class Unsendable:
    """A wanted value Allegro would refuse whatever we do (a price of the wrong precision)."""

    account_id: str
    sku: str
    reason: dict[str, Any]


@dataclass(frozen=True)
class Batch:
    """One command: a value for up to `MAX_OFFERS_PER_COMMAND` offers of one account."""

    account_id: str
    kind: str
    marketplace: str | None
    value: dict[str, Any]
    changes: tuple[Change, ...]


def next_change(offer: OfferToSync) -> Change | Unsendable | None:
    """What to send for the offer now, one change at a time, most urgent first: a sold-out
    offer ends; a stock change goes before a reactivation (an offer is reactivated with the
    stock it should have); prices follow, base marketplace and others alike. Only marketplaces
    the offer was published on are priced (the others were left out at creation, with why)."""
    if offer.offer_id is None or not offer.listed:
        return None  # a withdrawn offer is ended by the publication worker
    if offer.state == states.ACTIVE:
        if offer.stock <= 0:
            return _change(offer, PUBLICATION, None, {"action": END})
        if offer.sent_stock != offer.stock:
            return _change(offer, QUANTITY, None, {"quantity": offer.stock})
        wanted, skipped = listing.marketplace_prices(
            offer.prices, offer.unpriced, sorted(offer.sent_prices)
        )
        for marketplace in sorted(offer.sent_prices):
            price = wanted.get(marketplace)
            if price is None:
                if marketplace in offer.prices:  # a price we cannot send as it is
                    return Unsendable(
                        offer.account_id,
                        offer.sku,
                        states.reason("price_invalid", detail=skipped[marketplace]),
                    )
                continue
            if not same_price(price, offer.sent_prices[marketplace]):
                return _change(offer, PRICE, marketplace, price, offer.price_revision)
        return None
    if offer.state == states.ENDED and offer.stock > 0:
        if offer.sent_stock != offer.stock:
            return _change(offer, QUANTITY, None, {"quantity": offer.stock})
        return _change(offer, PUBLICATION, None, {"action": ACTIVATE})
    return None


def same_price(a: Mapping[str, Any], b: Mapping[str, Any] | None) -> bool:
    if not b:
        return False
    return a.get("currency") == b.get("currency") and Decimal(str(a["amount"])) == Decimal(
        str(b["amount"])
    )


def _change(
    offer: OfferToSync,
    kind: str,
    marketplace: str | None,
    value: dict[str, Any],
    price_revision: int | None = None,
) -> Change:
    assert offer.offer_id is not None
    return Change(
        offer.account_id, offer.sku, offer.offer_id, kind, marketplace, value, price_revision
    )


def batches(changes: Iterable[Change], limit: int = MAX_OFFERS_PER_COMMAND) -> list[Batch]:
    """Changes grouped by what one command can carry, in commands of at most `limit` offers
    (never above Allegro's 1,000); an offer appears once (its first change)."""
    limit = max(1, min(limit, MAX_OFFERS_PER_COMMAND))
    groups: dict[tuple[str, str, str, str], list[Change]] = {}
    seen: set[tuple[str, str]] = set()
    for change in changes:
        if (change.account_id, change.sku) in seen:
            continue
        seen.add((change.account_id, change.sku))
        groups.setdefault(change.group, []).append(change)
    found: list[Batch] = []
    for group in groups.values():
        first = group[0]
        for start in range(0, len(group), limit):
            found.append(
                Batch(
                    first.account_id,
                    first.kind,
                    first.marketplace,
                    first.value,
                    tuple(group[start : start + limit]),
                )
            )
    return found


def command_body(
    kind: str, marketplace: str | None, value: Mapping[str, Any], offer_ids: Iterable[str]
) -> dict[str, Any]:
    """The PUT body of Allegro's command of that kind (spec: OfferPriceChangeCommand,
    OfferQuantityChangeCommand, OfferPublicationCommand)."""
    criteria = [{"type": "CONTAINS_OFFERS", "offers": [{"id": i} for i in offer_ids]}]
    if kind == PRICE:
        modification: dict[str, Any] = {"type": "FIXED_PRICE", "price": dict(value)}
        if marketplace:
            modification["marketplaceId"] = marketplace
        return {"modification": modification, "offerCriteria": criteria}
    if kind == QUANTITY:
        return {
            "modification": {"changeType": "FIXED", "value": int(value["quantity"])},
            "offerCriteria": criteria,
        }
    if kind == PUBLICATION:
        return {"publication": {"action": str(value["action"])}, "offerCriteria": criteria}
    raise ValueError(f"unknown command kind {kind}")


def publication_status(value: Mapping[str, Any]) -> frozenset[str] | None:
    """The offer statuses on Allegro in which a publication command's action holds already."""
    return {
        END: frozenset({"ENDED"}),
        ACTIVATE: frozenset({"ACTIVE", "ACTIVATING"}),
    }.get(str(value.get("action")))


@dataclass(frozen=True)
class TaskResult:
    """One offer's task: success, or why not (Allegro's first error code and its words)."""

    offer_id: str
    success: bool
    code: str = ""
    message: str = ""
    errors: tuple[dict[str, Any], ...] = ()

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_TASK_CODES or self.code == NO_TASK


def task_results(offer_ids: Iterable[str], tasks: Iterable[Mapping[str, Any]]) -> list[TaskResult]:
    """Each offer's result from the command's tasks; an offer without a task (Allegro did not
    report it) is a transient failure: its change is sent again."""
    by_offer = {str((t.get("offer") or {}).get("id")): t for t in tasks}
    found: list[TaskResult] = []
    for offer_id in offer_ids:
        task = by_offer.get(offer_id)
        if task is None:
            found.append(TaskResult(offer_id, False, NO_TASK, "Allegro reported no task"))
            continue
        if task.get("status") == "SUCCESS":
            found.append(TaskResult(offer_id, True))
            continue
        errors = tuple(dict(e) for e in task.get("errors") or [])
        first = errors[0] if errors else {}
        found.append(
            TaskResult(
                offer_id,
                False,
                str(first.get("code") or "TASK_FAILED"),
                str(first.get("message") or task.get("message") or "the task failed"),
                errors,
            )
        )
    return found


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before a transient failure's change goes again: doubled per failure, capped."""
    return float(min(base * 2 ** max(0, attempts - 1), cap))


def failure_reason(kind: str, result: TaskResult, surfaced: bool) -> dict[str, Any]:
    """The offer's sync error as stored and shown: plain words, Allegro's code and errors."""
    code = "sync_unavailable" if result.transient else "sync_failed"
    reason = states.reason(code, list(result.errors), detail=f"{kind}: {result.message}")
    return {**reason, "allegro_code": result.code, "surfaced": surfaced}
