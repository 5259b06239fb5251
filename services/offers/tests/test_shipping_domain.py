"""The pure shipping model: names, band boundaries, the 250-list arithmetic, validation codes,
the free-delivery rule and the bodies sent to Allegro."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from offers.domain.shipping import (
    DeliveryMethod,
    ExistingList,
    ListSlot,
    Money,
    ShippingConfiguration,
    WeightBand,
    choose_slot,
    count_lists,
    fingerprint,
    free_delivery_body,
    free_delivery_rule,
    list_name,
    package_weight,
    rates_body,
    validate,
)

PL = DeliveryMethod(
    "pl-courier",
    "Kurier",
    "PL",
    "PLN",
    weight_supported=True,
    weight_min=Decimal("0.1"),
    weight_max=Decimal("31.5"),
    rate_min=Decimal("0"),
    rate_max=Decimal("100"),
)
PL_LOCKER = DeliveryMethod("pl-locker", "Paczkomat", "PL", "PLN")
CZ = DeliveryMethod("cz", "Kurier CZ", "CZ", "CZK", weight_supported=True)
SK = DeliveryMethod("sk", "Paczkomat SK", "SK", "EUR")
HU = DeliveryMethod("hu", "Kurier HU", "HU", "HUF")
METHODS = {m.id: m for m in (PL, PL_LOCKER, CZ, SK, HU)}
NAME_RULE = re.compile(r"^[A-Za-z0-9\-., ]{1,64}$")


def band(max_kg: str, *, pl: str = "9.99", currency: str = "PLN") -> WeightBand:
    return WeightBand(
        Decimal(max_kg),
        {
            "pl-courier": Money(Decimal(pl), currency),
            "pl-locker": Money(Decimal("8.99"), "PLN"),
            "cz": Money(Decimal("99"), "CZK"),
            "sk": Money(Decimal("4.50"), "EUR"),
            "hu": Money(Decimal("1990"), "HUF"),
        },
    )


def config(
    *bands: WeightBand,
    sets: tuple[str, ...] = ("PL", "PL-CZ-SK-HU"),
    handling_time: str = "PT24H",
    free_delivery: dict[str, Money] | None = None,
) -> ShippingConfiguration:
    return ShippingConfiguration(
        delivery_methods=tuple(METHODS),
        bands=bands or (band("1"), band("5")),
        handling_time=handling_time,
        destination_sets=sets,
        free_delivery=free_delivery or {},
    )


def codes(c: ShippingConfiguration) -> list[str]:
    return [p.code for p in validate(c, METHODS)]


def test_names_are_predictable_and_within_the_specs_rule() -> None:
    assert list_name(Decimal(0), Decimal("1"), "PL") == "mci 0-1 kg PL"
    assert list_name(Decimal("1"), Decimal("2.500"), "PL-CZ-SK-HU") == "mci 1-2.5 kg PL CZ SK HU"
    longest = list_name(Decimal("999.999"), Decimal("1000"), "PL-CZ-SK-HU")
    assert NAME_RULE.match(longest)


def test_a_band_includes_its_max_weight() -> None:
    c = config()
    assert choose_slot(c, Decimal("1"), {"allegro-pl"}).slot == ListSlot(0, "PL")
    assert choose_slot(c, Decimal("1.001"), {"allegro-pl"}).slot == ListSlot(1, "PL")
    assert choose_slot(c, Decimal("0"), {"allegro-pl"}).slot == ListSlot(0, "PL")
    above = choose_slot(c, Decimal("5.001"), {"allegro-pl"})
    assert above.slot is None and "above the last weight band (5 kg)" in str(above.reason)
    assert "no weight" in str(choose_slot(c, None, {"allegro-pl"}).reason)


def test_the_smallest_destination_set_reaching_the_marketplaces_is_chosen() -> None:
    c = config()
    assert choose_slot(c, Decimal("1"), {"allegro-cz"}).slot == ListSlot(0, "PL-CZ-SK-HU")
    pl_only = config(sets=("PL",))
    refused = choose_slot(pl_only, Decimal("1"), {"allegro-pl", "allegro-hu"})
    assert refused.slot is None and "allegro-hu" in str(refused.reason)


def test_the_limit_counts_only_lists_that_do_not_exist_yet() -> None:
    c = config()  # 2 bands x 2 sets
    others = [ExistingList(f"own-{i}", f"own {i}") for i in range(240)]
    fresh = count_lists(c, {}, others)
    assert (fresh.needed, fresh.new, fresh.existing, fresh.total) == (4, 4, 240, 244)
    assert fresh.problem() is None
    # One recorded, one found by name: two new.
    ours = [ExistingList("a", "whatever"), ExistingList("b", "mci 1-5 kg PL CZ SK HU")]
    partly = count_lists(c, {ListSlot(0, "PL"): "a"}, others + ours)
    assert (partly.new, partly.existing, partly.total) == (2, 242, 244)
    # A recorded id Allegro no longer has costs a new list.
    lost = count_lists(c, {ListSlot(0, "PL"): "gone"}, others)
    assert lost.new == 4
    full = count_lists(c, {}, others + [ExistingList(f"x{i}", f"x {i}") for i in range(7)])
    problem = full.problem()
    assert problem is not None and problem.code == "shipping_rates_limit"
    assert "2 bands x 2 destination sets = 4" in problem.reason
    assert "247 + 4 = 251 > 250" in problem.reason


@pytest.mark.parametrize(
    ("changed", "code"),
    [
        (config(band("0")), "invalid_weight"),
        (config(band("1.0001")), "invalid_weight"),
        (config(band("2"), band("1")), "unsorted_bands"),
        (config(band("1"), band("1")), "duplicate_band"),
        (config(band("1", pl="100.01")), "price_out_of_range"),
        (config(band("1", pl="1.999")), "invalid_price"),
        (config(band("1", currency="EUR")), "wrong_currency"),
        (config(sets=("PL", "EU")), "unknown_destination_set"),
        (config(sets=("PL", "PL")), "duplicate_destination_set"),
        (config(sets=()), "no_destination_set"),
        (config(handling_time="PT48H"), "invalid_handling_time"),
        (
            config(free_delivery={"allegro-cz": Money(Decimal("2000"), "CZK")}),
            "free_delivery_shared_list",
        ),
        (
            config(sets=("PL",), free_delivery={"allegro-pl": Money(Decimal("199"), "CZK")}),
            "wrong_currency",
        ),
        (
            config(sets=("PL",), free_delivery={"allegro-de": Money(Decimal("1"), "EUR")}),
            "unknown_marketplace",
        ),
    ],
)
def test_each_problem_has_its_code(changed: ShippingConfiguration, code: str) -> None:
    assert code in codes(changed)


def test_a_valid_configuration_has_no_problem() -> None:
    assert codes(config()) == []
    pl_free = config(sets=("PL",), free_delivery={"allegro-pl": Money(Decimal("199.00"), "PLN")})
    assert free_delivery_rule(pl_free) is None and codes(pl_free) == []


def test_unknown_and_disallowed_methods() -> None:
    c = ShippingConfiguration(("pl-courier", "nope"), (band("1"),), "PT24H", ("PL",))
    assert "unknown_delivery_method" in [p.code for p in validate(c, METHODS)]
    closed = {**METHODS, "pl-courier": DeliveryMethod("pl-courier", "K", "PL", "PLN", False)}
    assert "delivery_method_not_allowed" in [p.code for p in validate(config(), closed)]


def test_a_list_body_has_the_sets_methods_and_the_bands_weight() -> None:
    c = config(band("0.05"), band("40"))
    pl = rates_body(c, ListSlot(0, "PL"), METHODS)
    assert pl["name"] == "mci 0-0.05 kg PL"
    assert [r["deliveryMethod"]["id"] for r in pl["rates"]] == ["pl-courier", "pl-locker"]
    courier = pl["rates"][0]
    # Within the method's limits: 0.05 kg is raised to its 0.1 minimum, 40 cut to 31.5.
    assert courier["maxPackageWeight"] == {"value": "0.100", "unit": "KILOGRAM"}
    assert courier["nextItemRate"] == {"amount": "0.00", "currency": "PLN"}
    assert "maxPackageWeight" not in pl["rates"][1]
    shared = rates_body(c, ListSlot(1, "PL-CZ-SK-HU"), METHODS)
    assert len(shared["rates"]) == 5
    assert package_weight(Decimal("40"), PL) == "31.500"
    assert fingerprint(shared) == fingerprint(dict(reversed(list(shared.items()))))
    assert fingerprint(shared) != fingerprint(pl)


def test_the_document_round_trips() -> None:
    c = config(free_delivery={})
    assert ShippingConfiguration.from_document(c.as_document()) == c


def test_a_free_delivery_threshold_is_sent_only_when_it_differs() -> None:
    current = {
        "joinPolicy": {"strategy": "MIN"},
        "freeDelivery": {"amount": "199.00", "currency": "PLN"},
    }
    same = Money(Decimal("199"), "PLN")
    assert free_delivery_body("allegro-pl", same, current) is None
    assert free_delivery_body("allegro-pl", None, {"joinPolicy": {"strategy": "MIN"}}) is None
    higher = free_delivery_body("allegro-pl", Money(Decimal("249"), "PLN"), current)
    assert higher == {
        "marketplace": {"id": "allegro-pl"},
        "joinPolicy": {"strategy": "MIN"},
        "freeDelivery": {"amount": "249.00", "currency": "PLN"},
    }
    cleared = free_delivery_body("allegro-pl", None, current)
    assert cleared is not None and "freeDelivery" not in cleared
