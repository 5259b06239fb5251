"""Build-time helper for the one Dockerfile that builds every service image.

Used by the Dockerfile (stdlib only, runs on python:3.11-slim before anything is installed):

    python mci_image.py requirements SERVICE requirements.lock  > service-requirements.txt
    python mci_image.py paths SERVICE                           # workspace dirs to install

`requirements` keeps from the hash-pinned lock only what SERVICE needs at run time: the
transitive dependencies of its own distribution (plus mci-shared for the services and the
BigBuy connector),
found by following the lock's `# via` annotations. Dev tools (pytest, mypy, ruff,
testcontainers, ...) and the other services' dependencies are left out. Editable
workspace lines (`-e ./path`) are left out too: the Dockerfile installs the service's own
workspace members itself, with --no-deps, after syncing this list.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """What one image is built from and what it runs."""

    name: str
    distributions: tuple[str, ...]
    paths: tuple[str, ...]
    module: str
    port: int


TARGETS: dict[str, Target] = {
    **{
        name: Target(
            name=name,
            distributions=("mci-shared", f"mci-{name}"),
            paths=("shared", f"services/{name}"),
            module=name,
            port=port,
        )
        for name, port in (
            ("auth", 8001),
            ("catalog", 8002),
            ("pricing", 8003),
            ("offers", 8004),
            ("orders", 8005),
        )
    },
    # The BigBuy connector: a service like the five (database, broker, api and worker roles).
    "bigbuy": Target(
        name="bigbuy",
        distributions=("mci-shared", "mci-bigbuy-connector"),
        paths=("shared", "connectors/bigbuy"),
        module="bigbuy_connector",
        port=8006,
    ),
    "emulator": Target(
        name="emulator",
        distributions=("allegro-emulator",),
        paths=("sandbox/allegro",),
        module="allegro_emulator",
        port=8400,
    ),
    "bigbuy-emulator": Target(
        name="bigbuy-emulator",
        distributions=("bigbuy-emulator",),
        paths=("sandbox/bigbuy",),
        module="bigbuy_emulator",
        port=8410,
    ),
    # The operator console: stateless pages and a proxy to the services' APIs.
    "console": Target(
        name="console",
        distributions=("mci-console",),
        paths=("console",),
        module="mci_console",
        port=8009,
    ),
}


@dataclass
class Block:
    """One requirement of an exported lock: its lines and the packages it is `via`."""

    name: str
    lines: list[str]
    via: set[str]
    editable: bool


def normalize(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def parse_lock(text: str) -> list[Block]:
    """Split a `uv export --format requirements-txt` file into requirement blocks."""
    blocks: list[Block] = []
    current: Block | None = None
    in_via = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not line[0].isspace() and not stripped.startswith("#"):
            editable = stripped.startswith("-e ")
            if editable:
                name = stripped[3:].strip()
            else:
                match = _NAME.match(stripped)
                if match is None:
                    raise ValueError(f"cannot parse lock line: {line!r}")
                name = normalize(match.group(1))
            current = Block(name=name, lines=[line], via=set(), editable=editable)
            blocks.append(current)
            in_via = False
            continue
        if current is None:
            continue  # header comments
        if stripped.startswith("--hash=") or stripped.endswith("\\"):
            current.lines.append(line)
            continue
        if stripped.startswith("#"):
            comment = stripped.lstrip("#").strip()
            if comment == "via":
                in_via = True
            elif comment.startswith("via "):
                current.via.add(normalize(comment[4:].strip()))
                in_via = False
            elif in_via and comment:
                current.via.add(normalize(comment.split()[0]))
    return blocks


def needed(blocks: Iterable[Block], roots: Iterable[str]) -> list[Block]:
    """The non-editable blocks reachable from the root distributions through `via` edges."""
    wanted = {normalize(r) for r in roots}
    third_party = [b for b in blocks if not b.editable]
    changed = True
    while changed:
        changed = False
        for block in third_party:
            if block.name not in wanted and block.via & wanted:
                wanted.add(block.name)
                changed = True
    return [b for b in third_party if b.name in wanted]


def service_requirements(lock_text: str, service: str) -> str:
    """The hash-pinned requirements (no editable lines) one service image needs."""
    target = get_target(service)
    blocks = needed(parse_lock(lock_text), target.distributions)
    header = f"# {target.name}: filtered from requirements.lock by deploy/docker/mci_image.py\n"
    return header + "".join(line + "\n" for b in blocks for line in b.lines)


def get_target(service: str) -> Target:
    try:
        return TARGETS[service]
    except KeyError:
        known = ", ".join(sorted(TARGETS))
        raise SystemExit(f"unknown SERVICE {service!r}; expected one of: {known}") from None


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "requirements":
        lock = Path(argv[2]) if len(argv) > 2 else Path("requirements.lock")
        sys.stdout.write(service_requirements(lock.read_text(encoding="utf-8"), argv[1]))
        return 0
    if len(argv) == 2 and argv[0] == "paths":
        sys.stdout.write(" ".join(get_target(argv[1]).paths) + "\n")
        return 0
    sys.stderr.write(__doc__ or "")
    return 64


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
