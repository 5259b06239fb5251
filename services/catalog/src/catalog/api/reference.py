"""BigBuy's reference lists (taxonomy and manufacturer names) and the stock settings."""

from __future__ import annotations

import csv
from datetime import timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from catalog.deps import Deps
from catalog.domain import commands as c
from catalog.domain.errors import TooLarge
from catalog.domain.names import read_list
from catalog.handlers import reference as handlers
from shared.errors import Invalid
from shared.http import error_responses
from shared.security import Operator, Viewer

router = APIRouter()

MAX_LIST_BYTES = 50 * 1024 * 1024  # manufacturers: a few thousand rows; taxonomies x languages


async def _list_records(request: Request, fmt: str) -> list[dict[str, Any]]:
    body = await request.body()
    if len(body) > MAX_LIST_BYTES:
        raise TooLarge(f"at most {MAX_LIST_BYTES} bytes", code="too_large")
    try:
        text = body.decode("utf-8-sig")
        if fmt == "json":
            data = orjson.loads(text)
            records = data.get("data", data) if isinstance(data, dict) else data
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise ValueError("not a JSON array of objects")
            return records
        lines = text.splitlines()
        delimiter = ";" if lines and lines[0].count(";") > lines[0].count(",") else ","
        reader = csv.DictReader(lines, delimiter=delimiter)
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise ValueError("a CSV header with an id column is required")
        return [{**row, "__line__": reader.line_num} for row in reader]
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise Invalid(f"not a {fmt} list: {exc}"[:300], code="bad_file") from exc


ListFormat = Annotated[Literal["json", "csv"], Query(description="BigBuy's JSON (API) or CSV")]


@router.put("/reference/taxonomies", responses=error_responses(413, 422))
async def import_taxonomies(
    request: Request,
    deps: Deps,
    _: Operator,
    format: ListFormat = "json",
    language: Annotated[str, Query(pattern="^[a-z]{2}$")] = "en",
) -> dict[str, Any]:
    """BigBuy's taxonomies (`{id, name, parentTaxonomy, isoCode}`; CSV: same columns, or
    `parent`), in `language` unless a row has `isoCode`. Upserts (names merge per language),
    then re-resolves the products naming a new or changed id: items whose names changed are
    sent again."""
    rows, errors = read_list(await _list_records(request, format), taxonomies=True)
    command = c.SaveReferenceLists(rows, (), language)
    saved = await deps.units.handle(handlers.save_reference_lists, command)
    return {**saved, "errors": [e.as_dict() for e in errors]}


@router.put("/reference/manufacturers", responses=error_responses(413, 422))
async def import_manufacturers(
    request: Request, deps: Deps, _: Operator, format: ListFormat = "json"
) -> dict[str, Any]:
    """BigBuy's manufacturers (`{id, name}`), JSON or CSV; then re-resolves the products
    naming a new or renamed one."""
    rows, errors = read_list(await _list_records(request, format), taxonomies=False)
    command = c.SaveReferenceLists((), rows, "en")
    saved = await deps.units.handle(handlers.save_reference_lists, command)
    return {**saved, "errors": [e.as_dict() for e in errors]}


@router.get("/reference")
async def reference_counts(deps: Deps, _: Viewer) -> dict[str, Any]:
    return await deps.units.read(handlers.count_reference, c.CountReference())


class StockSettingsBody(BaseModel):
    reservation_lag_seconds: float = Field(
        ge=0,
        le=7 * 86400,
        description="How long an order takes to reach the supplier's stock figure",
    )


@router.get("/settings/stock")
async def get_stock_settings(deps: Deps, _: Viewer) -> dict[str, Any]:
    return await deps.units.read(handlers.stock_settings, c.GetStockSettings())


@router.put("/settings/stock")
async def put_stock_settings(body: StockSettingsBody, deps: Deps, _: Operator) -> dict[str, Any]:
    """Change the reservation lag; products with open reservations are re-sent if it matters."""
    lag = timedelta(seconds=body.reservation_lag_seconds)
    saved = await deps.units.handle(handlers.set_reservation_lag, c.SetReservationLag(lag))
    return {**saved, "reservation_lag_seconds": body.reservation_lag_seconds}
