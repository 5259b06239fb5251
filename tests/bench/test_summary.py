"""bench/summary.py gathers every benchmark's figures: the direction of each target, the table in
bench/README.md, and a README kept in step with the committed result files."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from mci_testing.deploy import ROOT, load_module

BENCH = ROOT / "bench"


@pytest.fixture(scope="module")
def summary() -> ModuleType:
    return load_module(BENCH / "summary.py", "mci_bench_summary")


def write(path: Path, figures: list[dict[str, object]]) -> None:
    path.write_text(json.dumps(figures), encoding="utf-8")


def readme(path: Path) -> Path:
    path.write_text(f"# Benchmarks\n\nintro\n\n{START}\nold table\n{END}\n\nafter\n")
    return path


START = "<!-- summary:start (bench/summary.py writes this table) -->"
END = "<!-- summary:end -->"


def test_targets_are_met_by_direction_and_the_table_replaces_the_old_one(
    summary: ModuleType, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    write(
        results / "offers.json",
        [
            # a time: lower is better, so 12 s misses a 10 s target
            {"figure": "publish_45k", "value": 12.0, "unit": "s", "target": 10},
            # a ratio to its floor: said to be better lower, 1.05 meets 1.10
            {
                "figure": "creation_floor",
                "value": 1.05,
                "unit": "ratio",
                "target": 1.1,
                "better": "lower",
            },
            # a rate: higher is better
            {
                "figure": "orders_per_second",
                "value": 140,
                "unit": "orders/s",
                "target": 100,
                "ratio": 1.4,
            },
            {"figure": "informational", "value": 3, "unit": "count", "target": None},
        ],
    )
    write(results / "summary.json", [{"ignored": True}])  # a previous summary is not an input
    guide = readme(tmp_path / "README.md")

    made = summary.summarise(results, guide, datetime(2026, 12, 2, tzinfo=UTC))

    met = {f["figure"]: f["met"] for f in made["figures"]}
    assert met == {
        "publish_45k": False,
        "creation_floor": True,
        "orders_per_second": True,
        "informational": None,
    }
    assert made["targets_missed"] == ["offers: publish_45k"]
    assert made["date"] == "2026-12-02"
    assert made["machine"]["cores"] >= 1
    assert json.loads((results / "summary.json").read_text())["figures"] == made["figures"]
    text = guide.read_text()
    assert "old table" not in text
    assert text.startswith("# Benchmarks\n\nintro\n\n") and text.endswith("\n\nafter\n")
    assert "| offers | publish_45k | 12 s | <= 10 s |  | **no** |" in text
    assert "| offers | creation_floor | 1.05 ratio | <= 1.1 ratio |  | yes |" in text
    assert "| offers | orders_per_second | 140 orders/s | >= 100 orders/s | 1.4 | yes |" in text


def test_a_figure_without_its_value_or_a_bad_direction_is_refused(
    summary: ModuleType, tmp_path: Path
) -> None:
    write(tmp_path / "pricing.json", [{"figure": "recompute", "unit": "s"}])
    with pytest.raises(ValueError, match=r"pricing: a figure lacks \['value'\]"):
        summary.read_results(tmp_path)
    write(tmp_path / "pricing.json", [{"figure": "x", "value": 1, "unit": "s", "better": "up"}])
    with pytest.raises(ValueError, match="better must be higher or lower"):
        summary.read_results(tmp_path)


def test_a_readme_without_the_markers_is_refused(summary: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Benchmarks\n")
    with pytest.raises(ValueError, match="lacks the markers"):
        summary.summarise(tmp_path, tmp_path / "README.md", datetime.now(UTC))


def test_the_committed_table_matches_the_committed_results(
    summary: ModuleType, tmp_path: Path
) -> None:
    """Whoever commits new results commits the table made from them (`make bench-summary`)."""
    results = tmp_path / "results"
    shutil.copytree(BENCH / "results", results)
    guide = tmp_path / "README.md"
    shutil.copy(BENCH / "README.md", guide)
    summary.summarise(results, guide, datetime.now(UTC))

    def table_of(text: str) -> list[str]:
        inside = text.split(START, 1)[1].split(END, 1)[0]
        return [line for line in inside.splitlines() if line.startswith("|")]

    committed = table_of((BENCH / "README.md").read_text())
    assert committed, "bench/README.md has no summary table: run `make bench-summary`"
    assert committed == table_of(guide.read_text()), "run `make bench-summary` and commit"
