"""Domain errors: a rule set, fee table or rate that cannot be accepted, with machine codes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    field: str
    code: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "reason": self.reason}


@dataclass
class InvalidInput(Exception):
    """One or more problems; `code` is the first problem's code (the one a client branches on)."""

    problems: list[Problem] = field(default_factory=list)

    @property
    def code(self) -> str:
        return self.problems[0].code if self.problems else "invalid"

    @property
    def message(self) -> str:
        return "; ".join(f"{p.field}: {p.reason}" for p in self.problems)

    def __str__(self) -> str:
        return self.message
