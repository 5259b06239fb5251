"""Human tables on stdout by default, the raw JSON with --json; messages on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def print_json(data: Any) -> None:
    # Plain print: rich would wrap or colour it, and scripts parse it.
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    grid = Table(title=title, show_lines=False)
    for column in columns:
        grid.add_column(column, overflow="fold")
    count = 0
    for row in rows:
        grid.add_row(*(cell(row.get(c)) for c in columns))
        count += 1
    if count == 0:
        out.print(f"{title + ': ' if title else ''}nothing")
        return
    out.print(grid)


def fields(data: dict[str, Any], title: str | None = None) -> None:
    """One object as a two-column table."""
    grid = Table(title=title, show_header=False)
    grid.add_column("field", style="bold")
    grid.add_column("value", overflow="fold")
    for key, value in data.items():
        grid.add_row(key, cell(value))
    out.print(grid)


def emit(data: Any, as_json: bool, human: Any) -> None:
    """--json: the raw JSON; otherwise call `human()` to print tables."""
    if as_json:
        print_json(data)
    else:
        human()
