"""Removing a test run's databases and vhosts once the run is over, in a process of its own.

Each DROP DATABASE waits for a checkpoint and each vhost deletion for the broker: a worker that
did this itself spent 20-40 s after its last test, at the end of `make test`, where every second
is the run's. Nothing waits for the result. A removal that does not happen (the machine stops)
is made by the next run, which drops what belongs to test processes no longer alive
(`infra.drop_stale_databases`, `VhostAdmin.delete_stale`).

`python -m mci_testing.cleanup` reads `{"admin_url": ..., "databases": [...], "vhosts": [...]}`
on its standard input.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Sequence

from mci_testing import infra


def in_background(
    admin_url: str | None = None, databases: Sequence[str] = (), vhosts: Sequence[str] = ()
) -> None:
    """Start the removal and return at once (unless MCI_KEEP_TEST_RESOURCES is set)."""
    if os.environ.get("MCI_KEEP_TEST_RESOURCES") or not (databases or vhosts):
        return
    process = subprocess.Popen(
        [sys.executable, "-m", "mci_testing.cleanup"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives the worker, and a Ctrl-C meant for pytest
    )
    assert process.stdin is not None
    spec = {"admin_url": admin_url, "databases": list(databases), "vhosts": list(vhosts)}
    process.stdin.write(json.dumps(spec).encode())
    process.stdin.close()


def main() -> None:
    spec = json.load(sys.stdin)
    if spec["databases"]:
        asyncio.run(infra.drop_databases(spec["admin_url"], spec["databases"]))
    if spec["vhosts"]:
        admin = infra.VhostAdmin(infra.base_amqp_url())
        for vhost in spec["vhosts"]:
            admin.delete(vhost)


if __name__ == "__main__":
    main()
