"""GTIN check digits: EAN-8, UPC-A (12), EAN-13 and GTIN-14, the codes Allegro's EAN (GTIN)
parameter takes."""

from __future__ import annotations

GTIN_LENGTHS = frozenset({8, 12, 13, 14})


def gtin_check_digit(body: str) -> str:
    # Weights 3, 1, 3, ... from the digit next to the check digit, whatever the length.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def ean13_check_digit(first12: str) -> str:
    return gtin_check_digit(first12)


def is_valid_gtin(code: str) -> bool:
    return (
        len(code) in GTIN_LENGTHS
        and code.isascii()
        and code.isdigit()
        and gtin_check_digit(code[:-1]) == code[-1]
    )


def is_valid_ean13(ean: str) -> bool:
    return len(ean) == 13 and is_valid_gtin(ean)
