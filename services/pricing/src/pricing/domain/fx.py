"""Exchange rates with their source and date; conversion direct, inverse or across EUR."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pricing.domain.errors import InvalidInput, Problem
from pricing.domain.marketplaces import ONE, check_currency


@dataclass(frozen=True)
class FxRate:
    """1 `base` = `rate` `quote`, as published by `source` on `as_of`."""

    base: str
    quote: str
    rate: Decimal
    source: str
    as_of: date

    def problems(self, field: str = "rate") -> list[Problem]:
        out = check_currency(self.base, f"{field}.base") + check_currency(
            self.quote, f"{field}.quote"
        )
        if self.base == self.quote:
            out.append(Problem(field, "same_currency", "base and quote are the same currency"))
        if self.rate <= 0:
            out.append(Problem(f"{field}.rate", "non_positive_rate", "a rate must be > 0"))
        if not self.source.strip():
            out.append(Problem(f"{field}.source", "missing_source", "a rate names its source"))
        return out

    def as_dict(self) -> dict[str, str]:
        return {
            "base": self.base,
            "quote": self.quote,
            "rate": str(self.rate),
            "source": self.source,
            "as_of": self.as_of.isoformat(),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, str]) -> FxRate:
        return cls(
            raw["base"],
            raw["quote"],
            Decimal(raw["rate"]),
            raw["source"],
            date.fromisoformat(raw["as_of"]),
        )

    def validate(self) -> FxRate:
        problems = self.problems()
        if problems:
            raise InvalidInput(problems)
        return self


@dataclass(frozen=True)
class Conversion:
    """How an amount is converted: the factor and the rates (with source/date) it came from."""

    source_currency: str
    target_currency: str
    factor: Decimal
    via: tuple[FxRate, ...]

    def describe(self) -> dict[str, object]:
        return {
            "from": self.source_currency,
            "to": self.target_currency,
            "rate": f"{self.factor.normalize():f}" if self.via else "1",
            "rates": [
                {
                    "pair": f"{r.base}/{r.quote}",
                    "rate": str(r.rate),
                    "source": r.source,
                    "as_of": r.as_of.isoformat(),
                }
                for r in self.via
            ],
        }


class MissingRate(LookupError):
    pass


class FxTable:
    def __init__(self, rates: list[FxRate] | None = None) -> None:
        self._rates: dict[tuple[str, str], FxRate] = {}
        self._cache: dict[tuple[str, str], Conversion] = {}
        for rate in rates or []:
            self._rates[(rate.base, rate.quote)] = rate

    @property
    def rates(self) -> list[FxRate]:
        return list(self._rates.values())

    def _step(self, source: str, target: str) -> tuple[Decimal, FxRate] | None:
        direct = self._rates.get((source, target))
        if direct is not None:
            return direct.rate, direct
        inverse = self._rates.get((target, source))
        if inverse is not None:
            return ONE / inverse.rate, inverse
        return None

    def conversion(self, source: str, target: str) -> Conversion:
        """Raises MissingRate when neither a direct/inverse rate nor a cross via EUR exists."""
        key = (source, target)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if source == target:
            conv = Conversion(source, target, ONE, ())
        elif (step := self._step(source, target)) is not None:
            conv = Conversion(source, target, step[0], (step[1],))
        else:
            first = self._step(source, "EUR")
            second = self._step("EUR", target)
            if first is None or second is None:
                raise MissingRate(f"no exchange rate {source}->{target}")
            conv = Conversion(source, target, first[0] * second[0], (first[1], second[1]))
        self._cache[key] = conv
        return conv
