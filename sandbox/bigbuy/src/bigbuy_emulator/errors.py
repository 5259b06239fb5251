"""BigBuy's error bodies: `{"code": <int>, "message": "<text>"}`, Symfony-form validation trees,
and the order codes ER001-ER014 whose `message` is itself a JSON string."""

from __future__ import annotations

from typing import Any

import orjson

RATE_LIMIT_TEXT = "You exceeded the rate limit"
INVALID_TOKEN = {"message": "Invalid Token"}


class BigBuyError(Exception):
    """An answer other than success: rendered by the app (where the quirks may bend it)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def error(status: int, message: str, **extra: Any) -> BigBuyError:
    return BigBuyError(status, {"code": status, "message": message, **extra})


def not_found(message: str) -> BigBuyError:
    return error(404, message)


def bad_request(message: str) -> BigBuyError:
    return error(400, message)


def order_error(code: str, info: str, data: Any = None, status: int = 409) -> BigBuyError:
    """ER0xx: `message` carries `{"info", "data"}` as a JSON string, as BigBuy sends it."""
    message = orjson.dumps({"info": info, "data": data if data is not None else {}}).decode()
    return BigBuyError(status, {"code": code, "message": message})


# Every ER code with BigBuy's meaning (the admin API can force any of them).
ORDER_ERRORS: dict[str, str] = {
    "ER001": "Product not found.",
    "ER002": "Incorrect product reference.",
    "ER003": "Product out of stock.",
    "ER004": "Incorrect postcode format.",
    "ER005": "Moneybox balance too low.",
    "ER007": "The order does not reach the minimum purchase.",
    "ER008": "The order already exists.",
    "ER009": "Temporary error creating the order. Try again later.",
    "ER010": "No carrier available for this order.",
    "ER011": "Invalid payment method.",
    "ER012": "The order does not reach the minimum amount for a bank wire.",
    "ER013": "Export error.",
    "ER014": "Pack error.",
}


def validation_error(problems: dict[str, str]) -> BigBuyError:
    """400 with the form tree: `problems` maps a dotted field path to its error message."""
    children: dict[str, Any] = {}
    lines: list[str] = []
    for path, problem in problems.items():
        node = children
        parts = path.split(".")
        indent = ""
        for part in parts[:-1]:
            node = node.setdefault(part, {"children": {}})["children"]
            lines.append(f"{indent}{part}:")
            indent += "    "
        node[parts[-1]] = {"errors": [problem]}
        lines.append(f"{indent}{parts[-1]}:\n{indent}    ERROR: {problem}")
    return BigBuyError(
        400,
        {
            "code": 400,
            "message": "\n".join(lines) + "\n",
            "errors": {"errors": [], "children": children},
        },
    )
