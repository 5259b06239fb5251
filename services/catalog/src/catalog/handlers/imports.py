"""Import reports and their bad rows (the import itself streams: catalog.ingest)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from catalog.domain import commands as c
from catalog.repository import ImportRepository
from shared.errors import Invalid, NotFound
from shared.pagination import Page, page_of
from shared.uow import UnitOfWork


def import_view(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    out["id"] = str(row["id"])
    return out


def _bad_cursor() -> Invalid:
    return Invalid("not a cursor of this list", code="invalid_cursor", details=[{"field": "after"}])


def _report_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """`<started_at ISO>~<id>`: the list is newest first, the id breaking ties."""
    at, _, key = cursor.rpartition("~")
    try:
        started_at, report_id = datetime.fromisoformat(at), uuid.UUID(key)
    except ValueError:
        raise _bad_cursor() from None
    if started_at.tzinfo is None:
        raise _bad_cursor()
    return started_at, report_id


async def list_imports(query: c.ListImports, uow: UnitOfWork) -> Page[dict[str, Any]]:
    """The latest import reports (and upstream batches with rejected records), newest first."""
    before = None if query.page.after is None else _report_cursor(query.page.after)
    found = await uow.repository(ImportRepository).reports(query.format, query.page.fetch, before)
    page = page_of(found, query.page, lambda r: f"{r['started_at'].isoformat()}~{r['id']}")
    return Page[dict[str, Any]](items=[import_view(r) for r in page.items], next=page.next)


async def get_import(query: c.GetImport, uow: UnitOfWork) -> dict[str, Any]:
    found = await uow.repository(ImportRepository).report(query.import_id)
    if found is None:
        raise NotFound(f"import {query.import_id} not found")
    return import_view(found)


async def import_errors(query: c.ListImportErrors, uow: UnitOfWork) -> Page[dict[str, Any]]:
    """The import's bad rows in order; the cursor is the last row error's number (seq)."""
    after = -1 if query.page.after is None else int(query.page.after)
    found = await uow.repository(ImportRepository).errors(query.import_id, after, query.page.fetch)
    return page_of(found, query.page, lambda e: str(e["seq"]))
