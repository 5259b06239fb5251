"""Domain errors: a rule set, fee table or rate that cannot be accepted, with machine codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import Invalid


@dataclass(frozen=True)
class Problem:
    field: str
    code: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "reason": self.reason}


class InvalidInput(Invalid):
    """One or more problems; `code` is the first problem's code (the one a client branches on)."""

    def __init__(self, problems: Sequence[Problem] = ()) -> None:
        self.problems = list(problems)
        super().__init__(
            "; ".join(f"{p.field}: {p.reason}" for p in self.problems),
            code=self.problems[0].code if self.problems else None,
            details=[p.as_dict() for p in self.problems],
        )
