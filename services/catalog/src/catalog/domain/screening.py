"""Prohibited-product screening: rules by category, brand or keyword, each with its reason.

Applied before anything is listed: a screened product never reaches Allegro, and reports name
the rule that blocked it. Keywords match whole words (or word prefixes ending in `*`) of the
title, brand and category path, ignoring case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from catalog.domain.model import Product
from catalog.domain.selection import in_subtree, normalise_category

RuleKind = Literal["category", "brand", "keyword"]


@dataclass(frozen=True)
class ScreeningRule:
    id: int
    kind: RuleKind
    pattern: str
    reason: str


@dataclass(frozen=True)
class Blocked:
    rule_id: int
    kind: str
    pattern: str
    reason: str


# Seeded into the rule table by migration 0002 (a copy); operators edit the table via the API.
# Sources: Allegro's "Przedmioty zakazane" list (weapons, drugs, tobacco/e-cigarettes, alcohol,
# prescription medicines, pyrotechnics, counterfeits, live animals, human remains and similar).
DEFAULT_RULES: list[tuple[RuleKind, str, str]] = [
    ("keyword", "broń palna", "Firearms are prohibited on Allegro"),
    ("keyword", "firearm*", "Firearms are prohibited on Allegro"),
    ("keyword", "amunicj*", "Ammunition is prohibited on Allegro"),
    ("keyword", "ammunition", "Ammunition is prohibited on Allegro"),
    ("keyword", "gaz pieprzowy", "Pepper spray is restricted on Allegro"),
    ("keyword", "pepper spray", "Pepper spray is restricted on Allegro"),
    ("keyword", "paralizator*", "Stun guns are restricted on Allegro"),
    ("keyword", "taser*", "Stun guns are restricted on Allegro"),
    ("keyword", "e-papieros*", "Tobacco and e-cigarettes are prohibited on Allegro"),
    ("keyword", "e-cigarette*", "Tobacco and e-cigarettes are prohibited on Allegro"),
    ("keyword", "papieros*", "Tobacco and e-cigarettes are prohibited on Allegro"),
    ("keyword", "tobacco", "Tobacco and e-cigarettes are prohibited on Allegro"),
    ("keyword", "liquid nikotyn*", "Nicotine liquids are prohibited on Allegro"),
    ("keyword", "alkohol*", "Alcoholic drinks are prohibited on Allegro"),
    ("keyword", "wódka", "Alcoholic drinks are prohibited on Allegro"),
    ("keyword", "vodka", "Alcoholic drinks are prohibited on Allegro"),
    ("keyword", "whisky", "Alcoholic drinks are prohibited on Allegro"),
    ("keyword", "fajerwerk*", "Pyrotechnics are prohibited on Allegro"),
    ("keyword", "firework*", "Pyrotechnics are prohibited on Allegro"),
    ("keyword", "petard*", "Pyrotechnics are prohibited on Allegro"),
    ("keyword", "na receptę", "Prescription medicines are prohibited on Allegro"),
    ("keyword", "prescription", "Prescription medicines are prohibited on Allegro"),
    ("keyword", "dopalacz*", "Psychoactive substances are prohibited on Allegro"),
    ("keyword", "cbd", "CBD products are restricted on Allegro"),
    ("keyword", "replika", "Counterfeits and replicas are prohibited on Allegro"),
    ("keyword", "replica", "Counterfeits and replicas are prohibited on Allegro"),
    ("keyword", "podróbka", "Counterfeits and replicas are prohibited on Allegro"),
    ("category", "Weapons", "Weapons are prohibited on Allegro"),
    ("category", "Adult", "Adult products need a separate Allegro agreement"),
    ("category", "Tobacco", "Tobacco and e-cigarettes are prohibited on Allegro"),
    ("category", "Pharmacy", "Medicines are prohibited on Allegro"),
]


def _keyword_regex(pattern: str) -> re.Pattern[str]:
    words = pattern.lower().split()
    parts = []
    for word in words:
        if word.endswith("*"):
            parts.append(re.escape(word[:-1]) + r"\w*")
        else:
            parts.append(re.escape(word) + r"(?!\w)")
    return re.compile(r"(?<!\w)" + r"\s+".join(parts), re.IGNORECASE)


class Screen:
    """The compiled rule list: `blocked(product)` is the first rule that blocks it, or None."""

    def __init__(self, rules: Iterable[ScreeningRule]) -> None:
        self.rules = list(rules)
        self._categories = [
            (r, frozenset([normalise_category(r.pattern)]))
            for r in self.rules
            if r.kind == "category"
        ]
        self._brands = {r.pattern.strip().lower(): r for r in self.rules if r.kind == "brand"}
        keywords = [r for r in self.rules if r.kind == "keyword"]
        # A substring test (fast) picks the few rules worth running their regex.
        self._keywords = [
            (r, r.pattern.lower().split()[0].rstrip("*"), _keyword_regex(r.pattern))
            for r in keywords
        ]

    def blocked(self, product: Product) -> Blocked | None:
        rule = self._match(product)
        return None if rule is None else Blocked(rule.id, rule.kind, rule.pattern, rule.reason)

    def _match(self, product: Product) -> ScreeningRule | None:
        for rule, roots in self._categories:
            if in_subtree(product.category_path, roots):
                return rule
        if product.brand and (brand_rule := self._brands.get(product.brand.lower())):
            return brand_rule
        if self._keywords:
            text = " ".join(t for t in (product.title, product.brand, product.category_path) if t)
            lowered = text.lower()
            for rule, needle, regex in self._keywords:
                if needle in lowered and regex.search(text):
                    return rule
        return None
