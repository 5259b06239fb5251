"""Domain errors: a rule set, fee table or rate that cannot be accepted, with machine codes."""

from __future__ import annotations

from shared.errors import InvalidFields, Problem

__all__ = ["InvalidInput", "Problem"]


class InvalidInput(InvalidFields):
    """One or more problems of a rule set, fee table or rate (`shared.errors.InvalidFields`)."""
