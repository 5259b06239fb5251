"""Prohibited-product screening: rules by category, brand or keyword, each with its reason.

Applied before anything is listed: a screened product never reaches Allegro, and reports name
the rule that blocked it. Keywords match whole words (or word prefixes ending in `*`) of the
title, brand and category path, ignoring case; `exception` rules are phrases taken out of that
text first (an allowed use of a blocked word: `whisky stones`, `prescription glasses`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from catalog.domain.model import CATEGORY_SEPARATOR, Product
from catalog.domain.selection import in_subtree, normalise_category

RuleKind = Literal["category", "brand", "keyword", "exception"]


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


# The default rule set, after Allegro's prohibited and restricted items (alcohol, weapons and
# their imitations, pyrotechnics, tobacco and e-cigarettes, medicines and health claims, adult
# items, counterfeits), in Polish and English. Seeded into the rule table by migration 0006 (a
# frozen copy); operators edit the table through the API. Polish inflects, so a keyword lists
# the forms a title uses (or a stem with `*` where the stem is not another word: `wino*` would
# also block `winogrona`). `exception` phrases are taken out of the text before the keywords
# run: `whisky stones` stays allowed while `whisky` is blocked. Checked against the labelled
# titles in tests/data/screening_titles.csv (precision and recall in the README).
ALCOHOL = "Alcoholic drinks are prohibited on Allegro"
WEAPONS = "Weapons and their imitations are prohibited on Allegro"
PYRO = "Pyrotechnics are prohibited on Allegro"
TOBACCO = "Tobacco and e-cigarettes are prohibited on Allegro"
MEDICINE = "Medicines and health claims are prohibited on Allegro"
DRUGS = "Psychoactive substances and CBD are prohibited on Allegro"
ADULT = "Adult products need a separate Allegro agreement"
FAKE = "Counterfeits and replicas are prohibited on Allegro"
ALLOWED = "An allowed use of a word that a keyword rule blocks"


def _keywords(
    reason: str, patterns: str, kind: RuleKind = "keyword"
) -> list[tuple[RuleKind, str, str]]:
    return [(kind, p.strip(), reason) for p in patterns.split(",") if p.strip()]


DEFAULT_RULES: list[tuple[RuleKind, str, str]] = [
    *_keywords(
        ALCOHOL,
        "alcohol, alkohol, alkoholu, alkoholem, alkohole, napój alkoholowy, napoje alkoholowe,"
        " alcoholic drink*, alcoholic beverage*, liquor, spirits,"
        " wino, wina, winem, wine, wines, wódka, wódki, wódkę, vodka*, whisky, whiskey,"
        " bourbon, koniak*, cognac, brandy, rum, gin, tequila, likier*, liqueur*,"
        " nalewk*, bimber, spirytus, absynt, absinthe, szampan, szampana, champagne, prosecco,"
        " piwo, piwa, beer, beers, cydr, lager",
    ),
    *_keywords(
        WEAPONS,
        "broń, broni, bronią, firearm*, handgun*, rifle, rifles, karabin*, pistolet palny,"
        " rewolwer*, revolver*, amunicj*, ammunition, naboje, nabój, bullets, kastet*,"
        " knuckle duster*, brass knuckle*, gaz pieprzowy, gazu pieprzowego, pepper spray,"
        " paralizator*, taser*, stun gun*, pałka teleskopowa, pałk* teleskopow*,"
        " telescopic baton*, nóż sprężynowy, noże sprężynowe, switchblade*, butterfly knife,"
        " nóż motylkowy, balisong, granat ręczny, grenade*, replika broni, replica gun*,"
        " pistolet hukowy, pistolet gazowy, pistolet* ASG, airsoft gun*",
    ),
    *_keywords(
        PYRO,
        "fajerwerk*, firework*, petard*, zimne ognie, zimnych ogni, sparkler*, raca,"
        " pirotechni*, pyrotechni*, świeca dymna, świece dymne, smoke bomb*,"
        " smoke grenade*, wyrzutnia rac",
    ),
    *_keywords(
        TOBACCO,
        "tytoń, tytoniu, tobacco, papieros, papierosy, papierosów, cigarette*, e-papieros*,"
        " e-cigarette*, e-liquid*, liquid do e-papierosa, nikotyn*, nicotine, vape*, waporyzator*,"
        " cygar*, cigar, cigars, cygaretk*, shisha, hookah, fajka wodna, snus, tabak*",
    ),
    *_keywords(
        MEDICINE,
        "na receptę, prescription, antybiotyk*, antibiotic*, steryd*, steroid*, anaboli*,"
        " viagra, sildenafil, tadalafil, leczy, wyleczy, cures, cure cancer, treats cancer,"
        " na raka, przeciw rakowi, anti-cancer",
    ),
    *_keywords(
        DRUGS,
        "dopalacz*, psychoaktyw*, psychoactive, cbd, thc, kratom, marihuan*, marijuana, cannabis",
    ),
    *_keywords(
        ADULT,
        "wibrator*, vibrator*, dildo*, sex toy*, zabawk* erotyczn*, erotyczn*, erotic,"
        " sex shop, sexshop, masturbat*, korek analny, butt plug*, pornograf*, porn",
    ),
    *_keywords(FAKE, "replika, repliki, replica, podróbk*, counterfeit, fake brand"),
    ("category", "Weapons", WEAPONS),
    ("category", "Adult", ADULT),
    ("category", "Erotic", ADULT),
    ("category", "Sexshop", ADULT),
    ("category", "Tobacco", TOBACCO),
    ("category", "Pharmacy", MEDICINE),
    ("category", "Alcoholic Drinks", ALCOHOL),
    ("category", "Wines & Spirits", ALCOHOL),
    *_keywords(
        ALLOWED,
        (
            "whisky stones, whiskey stones, kamienie do whisky, whisky glass*, szklank* do whisky,"
            " wine glass*, kieliszk* do wina, kieliszk* do wódki, kieliszk* do szampana,"
            " champagne glass*, beer glass*, kufel do piwa, kufle do piwa, wine opener*,"
            " otwieracz do wina, otwieracz do piwa, korkociąg do wina, wine rack*,"
            " stojak na wino, stojak na wina, wine cooler*, chłodziarka do wina,"
            " karafka do wina, wine decanter*, piw* bezalkoholow*, win* bezalkoholow*,"
            " bezalkoholow*, non-alcoholic beer*, non-alcoholic wine*, non-alcoholic,"
            " alcohol-free beer*, alcohol-free wine*, alcohol-free, alcohol free,"
            " alkohol izopropylowy, isopropyl alcohol, marker* alkoholow*,"
            " alcohol marker*, alcohol wipe*, alcohol tester*, ginger ale, root beer, rum baba,"
            " prescription glasses, prescription sunglasses, prescription lens*,"
            " glasses frame*, oprawk* okularow*,"
            " glue gun*, pistolet do kleju, massage gun*, pistolet do masażu, spray gun*,"
            " pistolet natryskowy, water gun*, pistolet na wodę, nail gun*, heat gun*,"
            " caulking gun*, grease gun*,"
            " wibrator do betonu, wibratory do betonu, concrete vibrator*,"
            " cigarette lighter*, gniazdo zapalniczki, candle sparkler*,"
            " nicotine-free, bez nikotyny, cbd-free, naboje do syfonu"
        ),
        "exception",
    ),
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
    """The compiled rule list: `blocked(product)` is the first rule that blocks it, or None.

    A category rule `A > B` covers that path's subtree; a category rule of one name (`Weapons`)
    matches a category of that name at any depth (`Sports > Weapons > Knives`), ignoring case,
    since supplier trees nest the same kind of goods under different roots.
    """

    def __init__(self, rules: Iterable[ScreeningRule]) -> None:
        self.rules = list(rules)
        self._paths = [
            (r, frozenset([normalise_category(r.pattern)]))
            for r in self.rules
            if r.kind == "category" and ">" in r.pattern
        ]
        self._names: dict[str, ScreeningRule] = {}
        for r in self.rules:
            if r.kind == "category" and ">" not in r.pattern:
                self._names.setdefault(r.pattern.strip().lower(), r)
        self._brands = {r.pattern.strip().lower(): r for r in self.rules if r.kind == "brand"}
        # A substring test (fast) picks the few rules worth running their regex.
        self._keywords = [
            (r, r.pattern.lower().split()[0].rstrip("*"), _keyword_regex(r.pattern))
            for r in self.rules
            if r.kind == "keyword"
        ]
        self._exceptions = [
            (r.pattern.lower().split()[0].rstrip("*"), _keyword_regex(r.pattern))
            for r in self.rules
            if r.kind == "exception"
        ]

    def blocked(self, product: Product) -> Blocked | None:
        rule = self._match(product)
        return None if rule is None else Blocked(rule.id, rule.kind, rule.pattern, rule.reason)

    def _match(self, product: Product) -> ScreeningRule | None:
        path = product.category_path
        for rule, roots in self._paths:
            if in_subtree(path, roots):
                return rule
        if path and self._names:
            for name in path.lower().split(CATEGORY_SEPARATOR):
                if rule_of_name := self._names.get(name.strip()):
                    return rule_of_name
        if product.brand and (brand_rule := self._brands.get(product.brand.lower())):
            return brand_rule
        if self._keywords:
            text = " ".join(t for t in (product.title, product.brand, path) if t)
            lowered = text.lower()
            for needle, regex in self._exceptions:
                if needle in lowered:
                    text = regex.sub(" ", text)
            lowered = text.lower()
            for rule, needle, regex in self._keywords:
                if needle in lowered and regex.search(text):
                    return rule
        return None
