"""What goes to Allegro for one offer, and what Allegro's answers mean. Pure: no I/O.

- `offer_parameters`: the offer-level parameters filled from the catalogue item and checked
  against the category's parameter definitions (`GET /sale/categories/{id}/parameters`)
  before anything is sent;
- `marketplace_prices`: a price per enabled marketplace in its currency and precision;
- `product_offer_body`: the `POST /sale/product-offers` body, linked to Allegro's catalogue
  product by EAN (`idType: GTIN`), `external.id` = SKU;
- `handling_time`: the offer's `delivery.handlingTime` from the supplier's handling days and
  the account's own handling time;
- `classify`: an Allegro refusal as not_listable (the product or its data) or failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from offers.domain import states
from offers.domain.shipping import HANDLING_TIMES

CONDITION = "11323"  # Stan
CONDITION_NEW = "11323_1"  # Nowy: the supplier sells new goods
CURRENCIES = {"allegro-pl": "PLN", "allegro-cz": "CZK", "allegro-sk": "EUR", "allegro-hu": "HUF"}
# The marketplaces an offer can be sold on besides its base one (`additionalMarketplaces`).
ADDITIONAL = ("allegro-cz", "allegro-sk", "allegro-hu")
NAME_LENGTH = (12, 75)


@dataclass(frozen=True)
class Problem:
    """One failed check: a reason code of `states.REASONS` and what exactly is wrong."""

    code: str
    detail: str
    parameter_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"code": self.code, "detail": self.detail}
        if self.parameter_id:
            found["parameter_id"] = self.parameter_id
        return found


@dataclass(frozen=True)
class Account:
    """The account's recorded settings an offer is built with (its readiness result)."""

    return_policy_id: str
    implied_warranty_id: str
    responsible_producer_id: str
    safety_information: str
    base_marketplace: str = "allegro-pl"
    marketplaces: tuple[str, ...] = ("allegro-pl", "allegro-cz", "allegro-sk")


@dataclass(frozen=True)
class Draft:
    """A checked offer: its body, or the problems that keep it off Allegro."""

    body: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    # Marketplaces left out, with why (no price from pricing, or a price Allegro would refuse).
    skipped_marketplaces: dict[str, str] = field(default_factory=dict)


def _attribute(attributes: Mapping[str, str], definition: Mapping[str, Any]) -> str | None:
    """The catalogue attribute named like the parameter (its id or its name, any case)."""
    wanted = {str(definition["id"]).lower(), str(definition.get("name", "")).lower()}
    for key, value in attributes.items():
        if key.lower() in wanted and str(value).strip():
            return str(value).strip()
    return None


def _number(value: str, definition: Mapping[str, Any]) -> str | None:
    """The value as Allegro's number string, or None if the definition refuses it."""
    try:
        number = Decimal(value.replace(",", "."))
    except InvalidOperation:
        return None
    limits = definition.get("restrictions") or {}
    if definition["type"] == "integer" and number != number.to_integral_value():
        return None
    if limits.get("min") is not None and number < Decimal(str(limits["min"])):
        return None
    if limits.get("max") is not None and number > Decimal(str(limits["max"])):
        return None
    precision = limits.get("precision")
    exponent = number.normalize().as_tuple().exponent
    if precision is not None and isinstance(exponent, int) and -exponent > int(precision):
        return None
    return str(int(number)) if definition["type"] == "integer" else str(number.normalize())


def _parameter_value(
    value: str, definition: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """`(parameter, None)` or `(None, why it is refused)`."""
    pid, kind = str(definition["id"]), definition.get("type")
    if kind == "dictionary":
        entries = definition.get("dictionary") or []
        for entry in entries:
            if value.lower() in (str(entry["value"]).lower(), str(entry["id"]).lower()):
                return {"id": pid, "valuesIds": [str(entry["id"])]}, None
        allowed = ", ".join(str(e["value"]) for e in entries)
        return None, f"{value!r} is not one of: {allowed}"
    if kind in ("integer", "float"):
        number = _number(value, definition)
        if number is None:
            return None, f"{value!r} is not a number within the category's limits"
        return {"id": pid, "values": [number]}, None
    limits = definition.get("restrictions") or {}
    low, high = int(limits.get("minLength") or 1), int(limits.get("maxLength") or 10_000)
    if not low <= len(value) <= high:
        return None, f"{value!r} must have {low} to {high} characters"
    return {"id": pid, "values": [value]}, None


def _required(definition: Mapping[str, Any], filled: Mapping[str, set[str]]) -> bool:
    """`required`, and its `requiredIf` holds for the values filled (no condition: always)."""
    if not definition.get("required"):
        return False
    condition = definition.get("requiredIf") or {}
    with_value = all(
        filled.get(str(c["id"]), set()) & {str(v) for v in c.get("oneOfValueIds") or []}
        for c in condition.get("parametersWithValue") or []
    )
    without_value = all(
        str(c["id"]) not in filled for c in condition.get("parametersWithoutValue") or []
    )
    return with_value and without_value


def offer_parameters(
    definitions: Sequence[Mapping[str, Any]], attributes: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The offer-level parameters (not those describing the product: the catalogue product
    linked by EAN carries them) and every problem found."""
    found: list[dict[str, Any]] = []
    problems: list[Problem] = []
    absent: list[Mapping[str, Any]] = []
    for definition in definitions:
        if (definition.get("options") or {}).get("describesProduct"):
            continue
        pid, name = str(definition["id"]), str(definition.get("name") or definition["id"])
        value = _attribute(attributes, definition)
        if value is None and pid == CONDITION:
            found.append({"id": pid, "valuesIds": [CONDITION_NEW]})
            continue
        if value is None:
            absent.append(definition)
            continue
        parameter, refusal = _parameter_value(value, definition)
        if parameter is None:
            problems.append(Problem("parameter_invalid", f"{name} ({pid}): {refusal}", pid))
        else:
            found.append(parameter)
    filled = {str(p["id"]): {str(v) for v in p.get("valuesIds") or []} for p in found}
    for definition in absent:
        if _required(definition, filled):
            pid, name = str(definition["id"]), str(definition.get("name") or definition["id"])
            problems.append(
                Problem("parameter_missing", f"{name} ({pid}) is required", parameter_id=pid)
            )
    return found, problems


def price_text(amount: Decimal, currency: str) -> str | None:
    """The amount as Allegro takes it in `currency` (CZK whole, HUF ending 0 or 5, two
    decimals otherwise), or None if it cannot be sent as it is."""
    if amount <= 0:
        return None
    if currency == "CZK" or currency == "HUF":
        if amount != amount.to_integral_value():
            return None
        if currency == "HUF" and int(amount) % 5:
            return None
        return str(int(amount))
    if amount != amount.quantize(Decimal("0.01")):
        return None
    return f"{amount:.2f}"


def marketplace_prices(
    prices: Mapping[str, Mapping[str, Any]],
    unpriced: Mapping[str, str],
    marketplaces: Sequence[str],
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """`({marketplace: Allegro price}, {marketplace: why it is left out})`."""
    sent: dict[str, dict[str, str]] = {}
    skipped: dict[str, str] = {}
    for marketplace in marketplaces:
        price = prices.get(marketplace)
        currency = CURRENCIES.get(marketplace)
        if price is None:
            skipped[marketplace] = unpriced.get(marketplace) or "no price from pricing"
            continue
        if currency is None or price.get("currency") != currency:
            skipped[marketplace] = (
                f"price in {price.get('currency')}, {marketplace} takes {currency}"
            )
            continue
        text = price_text(Decimal(str(price["amount"])), currency)
        if text is None:
            skipped[marketplace] = f"{price['amount']} {currency} has the wrong precision"
            continue
        sent[marketplace] = {"amount": text, "currency": currency}
    return sent, skipped


def _days(handling_time: str) -> int:
    """`PT0S` 0, `PT24H` 1, `P<n>D` n: the spec's handling times in days."""
    fixed = {"PT0S": 0, "PT24H": 1}
    return fixed[handling_time] if handling_time in fixed else int(handling_time[1:-1])


def handling_time(handling_days: Any, account_minimum: str | None) -> str | None:
    """The offer's `delivery.handlingTime`: the supplier's handling days rounded up to a value
    Allegro takes (a promise may be longer than needed, never shorter; beyond 60 days, the
    longest there is), and never shorter than the account's own. None when neither is known:
    Allegro's default stays."""
    wanted: str | None = None
    if isinstance(handling_days, int) and handling_days >= 0:
        wanted = next((t for t in HANDLING_TIMES if _days(t) >= handling_days), HANDLING_TIMES[-1])
    if account_minimum in HANDLING_TIMES and (
        wanted is None or _days(account_minimum) > _days(wanted)
    ):
        wanted = account_minimum
    return wanted


def product_offer_body(
    sku: str,
    item: Mapping[str, Any],
    stock: int,
    prices: Mapping[str, Mapping[str, Any]],
    unpriced: Mapping[str, str],
    account: Account,
    shipping_rates_id: str,
    definitions: Sequence[Mapping[str, Any]],
    handling_time: str | None = None,
) -> Draft:
    """The offer to create, or why it cannot be: every check runs, every problem is kept."""
    problems: list[Problem] = []
    ean = item.get("ean")
    if not ean:
        problems.append(Problem("no_ean", "the catalogue item has no EAN"))
    category = item.get("allegro_category_id") or (item.get("allegro_category_ids") or {}).get(
        account.base_marketplace
    )
    if not category:
        problems.append(Problem("no_category", "the catalogue item has no Allegro category"))
    title = str(item.get("title") or "").strip()
    if not NAME_LENGTH[0] <= len(title) <= NAME_LENGTH[1]:
        title = title[: NAME_LENGTH[1]].rstrip()
        if len(title) < NAME_LENGTH[0]:
            problems.append(Problem("title_length", f"{len(title)} characters"))
    parameters, parameter_problems = offer_parameters(definitions, item.get("attributes") or {})
    problems += parameter_problems
    sent, skipped = marketplace_prices(prices, unpriced, account.marketplaces)
    base = sent.pop(account.base_marketplace, None)
    for marketplace in [m for m in sent if m not in ADDITIONAL]:
        del sent[marketplace]
        skipped[marketplace] = (
            f"not an additional marketplace of an account based on {account.base_marketplace}"
        )
    if base is None:
        problems.append(
            Problem(
                "price_invalid",
                f"{account.base_marketplace}: {skipped.get(account.base_marketplace, 'no price')}",
            )
        )
    if problems:
        return Draft(None, problems, skipped)
    product: dict[str, Any] = {
        "product": {"id": str(ean), "idType": "GTIN"},
        "responsibleProducer": {"type": "ID", "id": account.responsible_producer_id},
        "safetyInformation": {"type": "TEXT", "description": account.safety_information},
    }
    body: dict[str, Any] = {
        "productSet": [product],
        "name": title,
        "category": {"id": str(category)},
        "parameters": parameters,
        "sellingMode": {"format": "BUY_NOW", "price": base},
        "stock": {"available": stock, "unit": "UNIT"},
        "delivery": {
            "shippingRates": {"id": shipping_rates_id},
            **({"handlingTime": handling_time} if handling_time else {}),
        },
        "afterSalesServices": {
            "returnPolicy": {"id": account.return_policy_id},
            "impliedWarranty": {"id": account.implied_warranty_id},
        },
        "publication": {"status": "ACTIVE"},
        "external": {"id": sku},
    }
    if sent:
        body["additionalMarketplaces"] = {
            marketplace: {"sellingMode": {"price": price}} for marketplace, price in sent.items()
        }
    sections = item.get("description_sections") or []
    if sections:
        body["description"] = {"sections": sections}
    return Draft(body, [], skipped)


# Allegro's codes (the spec's 422 table of POST /sale/product-offers) that say the product or
# its data cannot be listed as it is: not_listable until the catalogue changes or a retry.
_NOT_LISTABLE: dict[str, str] = {
    "ProductNotFoundException": "product_missing",
    "MultipleProductsFoundException": "product_ambiguous",
    "CATEGORY_MISMATCH": "category_mismatch",
    "MissingRequiredParameters": "parameter_missing",
    "ParameterIdNotFoundException": "parameter_invalid",
    "ParameterNameNotFoundException": "parameter_invalid",
    "InvalidDictionaryParameter": "parameter_invalid",
    "DictionaryParameterValueNotFound": "parameter_invalid",
    "DictionaryParameterIdsAndValuesNotMatch": "parameter_invalid",
    "IncompleteParameterDefinition": "parameter_invalid",
    "ParameterCategoryException": "parameter_invalid",
    "PARAMETER_MISMATCH": "parameter_invalid",
    "PRODUCT_SAFETY_EMPTY": "product_safety",
    "InvalidPricePrecision": "price_invalid",
}


def classify(status: int, codes: Sequence[str]) -> tuple[str, str]:
    """`(state, reason code)` of an Allegro refusal of a create."""
    for code in codes:
        if code in _NOT_LISTABLE:
            return states.NOT_LISTABLE, _NOT_LISTABLE[code]
    return states.FAILED, "allegro_rejected"


def marketplace_states(offer: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per marketplace, the offer's publication as Allegro reports it (base: its status)."""
    publication = offer.get("publication") or {}
    base = ((publication.get("marketplaces") or {}).get("base") or {}).get("id") or "allegro-pl"
    found: dict[str, dict[str, Any]] = {base: {"state": publication.get("status")}}
    for marketplace, entry in (offer.get("additionalMarketplaces") or {}).items():
        published = (entry or {}).get("publication") or {}
        if not published:
            continue
        found[marketplace] = {
            "state": published.get("state"),
            "refusal_reasons": [
                r.get("code") for r in published.get("refusalReasons") or [] if r.get("code")
            ],
        }
    return found
