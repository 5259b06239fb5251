"""The repository stands alone: no tracked file reads or names a path outside it.

A user's clone has nothing beside it, so a test, a script or a README that reaches out of the
checkout (a relative path to a folder beside it that exists only in one workspace, an
absolute path of one machine)
works here and breaks there. Every relative `../` path written in a tracked text file must lead
to something the repository itself holds.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A relative path that climbs one or more parent folders.
CLIMBING = re.compile(r"(?<![\w.])((?:\.\./)+[\w.\-]+(?:/[\w.\-{}]+)*)")
# The folder of reading matter beside one workspace's checkout. Spelled in parts, here and
# below, so that this file names no such path itself and is checked like every other file.
BESIDE = "sha" + "red"
# Names of places that only exist on one machine or beside one checkout.
FOREIGN = [
    re.compile(rf"/work/(?:main|{BESIDE})\b"),
    re.compile(r"\bMCI_" + r"REFERENCE_DIR\b"),
    re.compile("beside the " + "checkout", re.IGNORECASE),
    re.compile(rf"\b{BESIDE}/(?:reference|contracts|design)/"),
]
# Allegro's vendored spec links to pages of Allegro's own site with climbing relative URLs
# that no code follows.
VENDORED = ("sandbox/allegro/spec/allegro-public-api.yaml",)


def tracked_text_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    files = []
    for name in out.decode().split("\0"):
        if not name or name in VENDORED:
            continue
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        files.append(path)
    return files


def tracked_dirs(files: list[Path]) -> set[Path]:
    dirs = {ROOT}
    for path in files:
        dirs.update(p for p in path.parents if p.is_relative_to(ROOT))
    return dirs


def leads_inside(reference: str, dirs: set[Path]) -> bool:
    """Some directory of the repository makes `reference` an existing path inside it."""
    for base in dirs:
        target = (base / reference).resolve()
        if target.is_relative_to(ROOT) and target.exists():
            return True
    return False


def outside_references(files: list[Path]) -> list[str]:
    dirs = tracked_dirs(files)
    found = []
    for path in files:
        rel = path.relative_to(ROOT)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pattern in FOREIGN:
                if pattern.search(line):
                    found.append(f"{rel}:{number}: {line.strip()[:120]}")
            for match in CLIMBING.finditer(line):
                reference = match.group(1).rstrip(".")
                if not leads_inside(reference, dirs):
                    found.append(f"{rel}:{number}: {reference}")
    return found


def test_no_tracked_file_reads_or_names_a_path_outside_the_repository() -> None:
    files = tracked_text_files()
    assert len(files) > 50, "git ls-files found too little: is this a checkout?"
    assert outside_references(files) == []


@pytest.mark.parametrize(
    ("line", "bad"),
    [
        (f"see `../{BESIDE}/reference/bigbuy.md` section 7", True),
        ("spec = ROOT.parent / 'x' ; open('" + "../" * 3 + f"{BESIDE}/contracts/a.yaml')", True),
        ("os.environ['MCI_" + "REFERENCE_DIR']", True),
        (f"notes in /work/{BESIDE}/design", True),
        ("resources: ['../../base']", False),
        ("version 1.2.3 ... and so on", False),
    ],
)
def test_the_check_catches_what_it_is_for(tmp_path: Path, line: str, bad: bool) -> None:
    # A file placed where the kustomize overlay lives, so `../../base` resolves to deploy/k8s/base.
    probe = ROOT / "deploy" / "k8s" / "overlays" / "dev" / f"probe-{tmp_path.name}.txt"
    probe.write_text(line + "\n", encoding="utf-8")
    try:
        assert bool(outside_references([probe])) is bad
    finally:
        probe.unlink()
