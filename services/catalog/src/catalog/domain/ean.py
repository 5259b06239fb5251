"""EAN-13 (GTIN-13) check digit."""

from __future__ import annotations


def ean13_check_digit(first12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def is_valid_ean13(ean: str) -> bool:
    return len(ean) == 13 and ean.isdigit() and ean13_check_digit(ean[:12]) == ean[12]
