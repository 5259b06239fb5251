"""Sample account, category parameter definitions, prices and catalogue item for the unit
and contract tests."""

from __future__ import annotations

from offers.domain.listing import Account

ACCOUNT = Account(
    return_policy_id="rp-1",
    implied_warranty_id="iw-1",
    responsible_producer_id="prod-1",
    safety_information="Keep away from children.",
)
CONDITION = {
    "id": "11323",
    "name": "Stan",
    "type": "dictionary",
    "required": True,
    "options": {"describesProduct": False},
    "dictionary": [{"id": "11323_1", "value": "Nowy"}, {"id": "11323_2", "value": "Używany"}],
}
PACKAGING = {
    "id": "248467",
    "name": "Stan opakowania",
    "type": "dictionary",
    "required": True,
    "options": {"describesProduct": False},
    "dictionary": [{"id": "248467_1", "value": "oryginalne"}],
    "requiredIf": {
        "parametersWithValue": [{"id": "11323", "oneOfValueIds": ["11323_2"]}],
        "parametersWithoutValue": [],
    },
}
WARRANTY = {
    "id": "500",
    "name": "Gwarancja producenta",
    "type": "integer",
    "required": False,
    "options": {"describesProduct": False},
    "restrictions": {"min": 1, "max": 120},
}
BRAND = {
    "id": "248811",
    "name": "Marka",
    "type": "string",
    "required": True,
    "options": {"describesProduct": True},
}
DEFINITIONS = [CONDITION, PACKAGING, WARRANTY, BRAND]
PRICES = {
    "allegro-pl": {"amount": "49.90", "currency": "PLN"},
    "allegro-cz": {"amount": "290.00", "currency": "CZK"},
    "allegro-sk": {"amount": "11.9", "currency": "EUR"},
}
ITEM = {
    "sku": "SKU-1",
    "ean": "5901234123457",
    "title": "Czajnik elektryczny Acme 1.7 l czarny",
    "allegro_category_id": "1521",
    "attributes": {},
    "description_sections": [{"items": [{"type": "TEXT", "content": "<p>Czajnik</p>"}]}],
}
