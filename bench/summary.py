"""`make bench-summary` (the last step of `make bench`): every benchmark's figures in one place.

Reads each `bench/results/<bench>.json` (a list of figures: `figure`, `value`, `unit`, `target`,
optional `ratio`, `better` and `note`), writes `bench/results/summary.json` with the machine's
facts and the date, and rewrites the table between the summary markers of `bench/README.md`.

A figure a benchmark could not measure yet says why in `not_measured` instead of a `value`
(never a made-up number); it is listed, and met by nothing.

Whether a figure meets its target depends on its direction: times (`s`, `ms`) are better lower,
rates and ratios higher, unless the figure says otherwise with `"better": "lower"` (e.g. a time
against its floor, where 1.0 is the best possible).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
README = BENCH / "README.md"
START = "<!-- summary:start (bench/summary.py writes this table) -->"
END = "<!-- summary:end -->"
LOWER_IS_BETTER_UNITS = frozenset({"s", "ms", "us", "MB", "bytes"})

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Figure:
    bench: str
    figure: str
    value: float | None
    unit: str
    target: float | None
    ratio: float | None
    better: Better
    met: bool | None
    note: str
    not_measured: str = ""


def direction(raw: dict[str, Any]) -> Better:
    given = raw.get("better")
    if given in ("higher", "lower"):
        return "lower" if given == "lower" else "higher"
    if given is not None:
        raise ValueError(f"{raw.get('figure')}: better must be higher or lower, not {given!r}")
    return "lower" if raw.get("unit") in LOWER_IS_BETTER_UNITS else "higher"


def figure_of(bench: str, raw: dict[str, Any]) -> Figure:
    if raw.get("not_measured"):
        return Figure(
            bench=bench,
            figure=str(raw.get("figure", "")),
            value=None,
            unit=str(raw.get("unit", "")),
            target=None if raw.get("target") is None else float(raw["target"]),
            ratio=None,
            better=direction(raw),
            met=None,
            note=str(raw.get("note", "")),
            not_measured=str(raw["not_measured"]),
        )
    missing = [key for key in ("figure", "value", "unit") if key not in raw]
    if missing:
        raise ValueError(f"{bench}: a figure lacks {missing}: {raw}")
    value = float(raw["value"])
    target = None if raw.get("target") is None else float(raw["target"])
    better = direction(raw)
    met = None if target is None else (value <= target if better == "lower" else value >= target)
    return Figure(
        bench=bench,
        figure=str(raw["figure"]),
        value=value,
        unit=str(raw["unit"]),
        target=target,
        ratio=None if raw.get("ratio") is None else float(raw["ratio"]),
        better=better,
        met=met,
        note=str(raw.get("note", "")),
    )


def read_results(directory: Path) -> list[Figure]:
    figures: list[Figure] = []
    for path in sorted(directory.glob("*.json")):
        if path.name == "summary.json":
            continue
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, list):
            raise ValueError(f"{path.name}: expected a list of figures")
        figures.extend(figure_of(path.stem, item) for item in raw)
    return figures


def machine() -> dict[str, Any]:
    memory_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"^MemTotal:\s+(\d+) kB", meminfo.read_text(), re.MULTILINE)
        memory_kib = int(found.group(1)) if found else 0
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
    }


def number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:g}"


def table(figures: list[Figure]) -> str:
    rows = [
        "| bench | figure | value | target | ratio | met |",
        "| --- | --- | ---: | ---: | ---: | :---: |",
    ]
    for f in figures:
        target = "" if f.target is None else f"{'<=' if f.better == 'lower' else '>='} "
        target += f"{number(f.target)} {f.unit}" if f.target is not None else ""
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        value = (
            f"not measured: {f.not_measured}" if f.not_measured else f"{number(f.value)} {f.unit}"
        )
        rows.append(f"| {f.bench} | {f.figure} | {value} | {target} | {number(f.ratio)} | {met} |")
    return "\n".join(rows)


def replace_table(readme: str, new_table: str, stamp: str) -> str:
    if START not in readme or END not in readme:
        raise ValueError(f"bench/README.md lacks the markers {START} ... {END}")
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{stamp}\n\n{new_table}\n{END}{after}"


def summarise(results: Path, readme: Path, now: datetime) -> dict[str, Any]:
    figures = read_results(results)
    facts = machine()
    summary = {
        "date": now.date().isoformat(),
        "machine": facts,
        "figures": [asdict(f) for f in figures],
        "targets_missed": [f"{f.bench}: {f.figure}" for f in figures if f.met is False],
    }
    (results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    stamp = (
        f"Summarised {summary['date']} on {facts['cores']} cores, {facts['memory_gib']} GiB,"
        f" Python {facts['python']}; each bench's own file says when and how it was measured."
    )
    readme.write_text(
        replace_table(readme.read_text(encoding="utf-8"), table(figures), stamp), encoding="utf-8"
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    summary = summarise(args.results, args.readme, datetime.now(UTC))
    print(table([Figure(**f) for f in summary["figures"]]))
    for missed in summary["targets_missed"]:
        print(f"target missed: {missed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
