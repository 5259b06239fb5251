"""SQL of shipping price lists: the configuration per account and the Allegro id of every list
(`sa.text`, named parameters, on the connection of the unit of work it is given)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

_CONFIGURATION = sa.text(
    "SELECT document, version, updated_by, updated_at, applied_document, applied_version,"
    " applied_at FROM shipping_configurations WHERE account_id = :a"
)
_SAVE = sa.text(
    "INSERT INTO shipping_configurations (account_id, document, version, updated_by, updated_at)"
    " VALUES (:a, CAST(:d AS jsonb), 1, :by, now())"
    " ON CONFLICT (account_id) DO UPDATE SET document = EXCLUDED.document,"
    " version = shipping_configurations.version + 1, updated_by = EXCLUDED.updated_by,"
    " updated_at = EXCLUDED.updated_at"
    " RETURNING version"
)
# One apply per account at a time; a crashed one's claim runs out after the lease.
_CLAIM = sa.text(
    "UPDATE shipping_configurations SET apply_claimed_until = now() + make_interval(secs => :s)"
    " WHERE account_id = :a AND (apply_claimed_until IS NULL OR apply_claimed_until < now())"
    " RETURNING version"
)
_RELEASE = sa.text(
    "UPDATE shipping_configurations SET apply_claimed_until = NULL WHERE account_id = :a"
)
_APPLIED = sa.text(
    "UPDATE shipping_configurations SET applied_document = CAST(:d AS jsonb),"
    " applied_version = :v, applied_at = now(), apply_claimed_until = NULL WHERE account_id = :a"
)
_LISTS = sa.text(
    "SELECT band, destination_set, allegro_id, name, fingerprint, updated_at"
    " FROM shipping_price_lists WHERE account_id = :a ORDER BY destination_set, band"
)
_LIST_OF = sa.text(
    "SELECT allegro_id FROM shipping_price_lists"
    " WHERE account_id = :a AND band = :b AND destination_set = :s"
)
_RECORD = sa.text(
    "INSERT INTO shipping_price_lists"
    " (account_id, band, destination_set, allegro_id, name, fingerprint, updated_at)"
    " VALUES (:a, :b, :s, :id, :name, :f, now())"
    " ON CONFLICT (account_id, band, destination_set) DO UPDATE SET"
    " allegro_id = EXCLUDED.allegro_id, name = EXCLUDED.name,"
    " fingerprint = EXCLUDED.fingerprint, updated_at = EXCLUDED.updated_at"
)
# A list adopted by one slot leaves any other slot that still named it (bands renamed).
_FORGET_ELSEWHERE = sa.text(
    "DELETE FROM shipping_price_lists WHERE account_id = :a AND allegro_id = :id"
    " AND NOT (band = :b AND destination_set = :s)"
)


@dataclass(frozen=True)
class StoredConfiguration:
    document: dict[str, Any]
    version: int
    updated_by: str
    updated_at: datetime
    applied_document: dict[str, Any] | None
    applied_version: int | None
    applied_at: datetime | None


@dataclass(frozen=True)
class StoredList:
    band: int
    destination_set: str
    allegro_id: str
    name: str
    fingerprint: str
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "band": self.band,
            "destination_set": self.destination_set,
            "id": self.allegro_id,
            "name": self.name,
            "updated_at": self.updated_at.isoformat(),
        }


class ShippingRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def configuration(self, account_id: str) -> StoredConfiguration | None:
        row = (await self.connection.execute(_CONFIGURATION, {"a": account_id})).mappings().first()
        return None if row is None else StoredConfiguration(**row)

    async def save_configuration(self, account_id: str, document: dict[str, Any], by: str) -> int:
        result = await self.connection.execute(
            _SAVE, {"a": account_id, "d": orjson.dumps(document).decode(), "by": by}
        )
        return int(result.scalar_one())

    async def claim_apply(self, account_id: str, lease_seconds: float) -> int | None:
        """The version to apply, or None while another apply holds the account."""
        result = await self.connection.execute(_CLAIM, {"a": account_id, "s": lease_seconds})
        found = result.scalar_one_or_none()
        return None if found is None else int(found)

    async def release_apply(self, account_id: str) -> None:
        await self.connection.execute(_RELEASE, {"a": account_id})

    async def mark_applied(self, account_id: str, document: dict[str, Any], version: int) -> None:
        await self.connection.execute(
            _APPLIED, {"a": account_id, "d": orjson.dumps(document).decode(), "v": version}
        )

    async def price_lists(self, account_id: str) -> list[StoredList]:
        rows = (await self.connection.execute(_LISTS, {"a": account_id})).mappings().all()
        return [StoredList(**row) for row in rows]

    async def price_list(self, account_id: str, band: int, destination_set: str) -> str | None:
        result = await self.connection.execute(
            _LIST_OF, {"a": account_id, "b": band, "s": destination_set}
        )
        found = result.scalar_one_or_none()
        return None if found is None else str(found)

    async def record_list(
        self,
        account_id: str,
        band: int,
        destination_set: str,
        allegro_id: str,
        name: str,
        fingerprint: str,
    ) -> None:
        slot = {"a": account_id, "b": band, "s": destination_set, "id": allegro_id}
        await self.connection.execute(_FORGET_ELSEWHERE, slot)
        await self.connection.execute(_RECORD, {**slot, "name": name, "f": fingerprint})
