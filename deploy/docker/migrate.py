"""Create and migrate one service's database, then exit: the Kubernetes migrations Job.

    python /usr/local/lib/mci/migrate.py            # the image's service (MCI_SERVICE)
    python deploy/docker/migrate.py catalog         # or name it

It builds the service's definition from its own settings (so `<SERVICE>_DATABASE_URL` or
`DATABASE_ADMIN_URL` choose the database, exactly as the service itself would) and runs its
Alembic migrations to head. Nothing else starts: no broker connection, no HTTP server.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys

# Service (MCI_SERVICE) -> its package; the BigBuy connector has a database like the services.
MODULES = {
    "auth": "auth",
    "catalog": "catalog",
    "pricing": "pricing",
    "offers": "offers",
    "orders": "orders",
    "bigbuy": "bigbuy_connector",
}
SERVICES = tuple(MODULES)


async def migrate_service(service: str) -> str:
    from shared.db import migrate

    definition = importlib.import_module(f"{MODULES[service]}.main").build()
    await migrate(definition.migrations_dir, definition.settings.database_url)
    return str(definition.settings.database_name)


def main(argv: list[str]) -> int:
    service = argv[0] if argv else os.environ.get("MCI_SERVICE", "")
    if service not in SERVICES:
        print(f"usage: migrate.py {{{'|'.join(SERVICES)}}} (or set MCI_SERVICE)", file=sys.stderr)
        return 64
    database = asyncio.run(migrate_service(service))
    print(f"{service}: database {database} migrated to head", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
