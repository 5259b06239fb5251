"""Runs last (file order): coverage of the spec, counted per (operation, status).

Run it with the whole directory: alone it fails, since nothing was validated."""

from __future__ import annotations

from pathlib import Path

from allegro_emulator.web import required_scope

from .conftest import OMITTED, SERVED, VALIDATED
from .possible_statuses import possible_statuses
from .test_statuses import BODY_METHODS, MODULES, served_operations

# What every operation can answer whatever its handler does (test_statuses.py sends them).
GENERIC = {401, 406, 429, 500, 503, 504}


def test_every_served_answer_was_validated_against_the_spec(
    spec_dict: dict[str, object],
) -> None:
    served = set(served_operations())
    paths = spec_dict["paths"]
    assert isinstance(paths, dict)
    not_in_spec = {(m, p) for m, p in served if p not in paths or m.lower() not in paths[p]}
    assert not not_in_spec
    # The scope each resource demands is the one the spec's `security` names.
    for method, path in served:
        operation = paths[path][method.lower()]
        scopes = [
            s
            for entry in operation.get("security", [])
            for s in entry.get("bearer-token-for-user", [])
        ]
        if scopes:
            assert required_scope(method, path) in scopes, (method, path, scopes)
    # Every (operation, status) the emulator answered during the session, however the test
    # called it, was validated against the spec at least once.
    unvalidated = sorted(SERVED - VALIDATED)
    assert not unvalidated, "\n".join(f"{m} {p} {s}" for m, p, s in unvalidated)
    # Every operation: a success, and each answer it can give whatever its handler does.
    missing = []
    for method, path in sorted(served):
        statuses = {s for m, p, s in VALIDATED if (m, p) == (method, path)}
        if not any(200 <= s < 400 for s in statuses):
            missing.append(f"{method} {path}: no success")
        wanted = GENERIC | ({415} if method in BODY_METHODS else set())
        missing += [f"{method} {path} {s}" for s in sorted(wanted - statuses)]
    # Every status each route's source can answer (possible_statuses.py).
    possible = possible_statuses([m.__name__.rsplit(".", 1)[-1] for m in MODULES])
    assert set(possible) == served
    missing += [
        f"{method} {path} {s} (from the source)"
        for (method, path), statuses in sorted(possible.items())
        for s in sorted(statuses)
        if (method, path, s) not in VALIDATED
    ]
    assert not missing, "\n".join(missing)


def test_statuses_the_spec_omits_are_listed_in_the_readme() -> None:
    """The README's table of statuses the spec omits lists every one the emulator sent."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Statuses the spec omits", 1)[1].split("\n#", 1)[0]
    listed: dict[str, set[int]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if line.startswith("| `") and len(cells) > 2 and " /" in cells[1]:
            listed[cells[1].strip("`")] = {int(s) for s in cells[2].split(",") if s.strip()}
    unlisted = sorted(
        f"{m} {p} {s}" for m, p, s in OMITTED if s not in listed.get(f"{m} {p}", set())
    )
    assert not unlisted, "\n".join(unlisted)
