"""Allegro's category tree as pricing sees it, and the calibration check's comparison (pure).

A commission group is a fee-table row keyed by an Allegro category id; it covers the subtree of
that category down to any deeper row. The calibration check asks Allegro's fee-preview for one
sample category of each group and compares its commission with the row's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from pricing.domain.fees import FeeRule, FeeTable
from pricing.domain.marketplaces import CENT


@dataclass(frozen=True)
class CategoryRow:
    """One category of Allegro's tree as GET /sale/categories/{categoryId} answered it."""

    id: str
    parent_id: str | None
    name: str | None
    leaf: bool
    found: bool = True


@dataclass(frozen=True)
class GroupSample:
    """A fee-table group and the Allegro category that stands for it (None: not found yet)."""

    rule: FeeRule
    category_id: str | None = None
    source: str = ""  # "selection" (a category of the account's products) or "allegro_tree"


@dataclass
class GroupCheck:
    rule: FeeRule
    category_id: str | None
    source: str
    status: str = "agrees"  # agrees | disagrees | no_sample | unknown_category | failed
    samples: list[dict[str, str | bool]] = field(default_factory=list)
    error: str | None = None

    def add(self, price: Decimal, allegro: Decimal) -> None:
        """One fee-preview answer against the row (commissions are rounded up to the grosz)."""
        ours = ours_at(self.rule, price)
        agrees = ours == allegro
        self.samples.append(
            {"price": str(price), "ours": str(ours), "allegro": str(allegro), "agrees": agrees}
        )
        if not agrees:
            self.status = "disagrees"

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.rule.key,
            "label": self.rule.label,
            "sample_category_id": self.category_id,
            "sample_from": self.source or None,
            "status": self.status,
            "samples": self.samples,
            **({"error": self.error} if self.error else {}),
        }


def ours_at(rule: FeeRule, price: Decimal) -> Decimal:
    """The row's commission at `price` (PLN, no delivery), rounded up to the grosz as Allegro
    rounds commissions."""
    return rule.commission(price).quantize(CENT, ROUND_CEILING)


def groups(table: FeeTable) -> list[FeeRule]:
    """The rows the check samples: every Allegro-category row, then "Other"."""
    rows = [r for r in table.rules if r.kind == "allegro_category"]
    return [*rows, table.default_rule]


def samples_from_selection(
    table: FeeTable, used: list[str], chains: dict[str, tuple[str, ...]]
) -> list[GroupSample]:
    """Each group with the most used category of the selection that resolves to it (through
    Allegro's chain only: a supplier-category row would hide the group)."""
    found: dict[str, str] = {}
    for category_id in used:  # most used first
        chain = chains.get(category_id)
        if chain is None:
            continue
        rule, matched = table.resolve(category_id, chain)
        if matched in ("category", "allegro_group", "other"):
            found.setdefault(rule.key, category_id)
    return [
        GroupSample(rule, found.get(rule.key), "selection" if rule.key in found else "")
        for rule in groups(table)
    ]


def summary(checks: list[GroupCheck]) -> dict[str, Any]:
    by_status: dict[str, list[str]] = {}
    for check in checks:
        by_status.setdefault(check.status, []).append(check.rule.key)
    return {
        "groups": len(checks),
        "agree": len(by_status.get("agrees", [])),
        "disagree": by_status.get("disagrees", []),
        "not_checked": sorted(
            key
            for status in ("no_sample", "unknown_category", "failed")
            for key in by_status.get(status, [])
        ),
    }
