"""The catalog service's operator endpoints: parse, call a use case, return."""

from __future__ import annotations

import csv
import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from catalog import repository as repo
from catalog.allegro import start_coverage, suggest_categories
from catalog.deps import CatalogDeps, catalog_deps
from catalog.domain.items import REASONS, decide
from catalog.domain.names import read_list
from catalog.domain.selection import Selection, normalise_category
from catalog.domain.stock import available_stock
from catalog.domain.titles import ALLEGRO_TITLE_MAX
from catalog.ingest import ImportFailed, run_import
from catalog.parsers import FormatError
from catalog.sync import SCAN_CHUNK, load_context, preview, publish, resync
from shared.accounts import KnownAccount, ensure_known
from shared.allegro import AllegroError
from shared.http import INT4_MAX, Int4Id, error_responses
from shared.security import Operator, Viewer
from shared.service import EngineDep
from shared.uow import UnitOfWork

router = APIRouter(tags=["catalog"])
Deps = Annotated[CatalogDeps, Depends(catalog_deps)]


def not_found(what: str, key: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        detail={"code": "not_found", "message": f"{what} {key} not found"},
    )


NOT_FOUND = error_responses(404)
# Routes of an account: unknown (404), or auth cannot be asked whether it exists (503).
OF_ACCOUNT = error_responses(404, 503)
# ... that also ask Allegro as the account: without usable tokens (409), refused (502).
ASKS_ALLEGRO = error_responses(404, 409, 502, 503)


# --- imports ---------------------------------------------------------------------------------


# Content types a client may declare for each format; anything else is refused unread.
# Declaring nothing, text/plain or application/octet-stream leaves the format to `format`; so
# does form-urlencoded, which is only curl's default for --data-binary, never a real claim.
NEUTRAL_TYPES = frozenset(
    {"", "text/plain", "application/octet-stream", "application/x-www-form-urlencoded"}
)
FORMAT_TYPES = {
    "jsonl": frozenset(
        {
            "application/json",
            "application/jsonl",
            "application/x-jsonlines",
            "application/jsonlines",
            "application/x-ndjson",
            "application/ndjson",
        }
    ),
    "csv": frozenset({"text/csv", "application/csv", "application/vnd.ms-excel"}),
}
FORMAT_TYPES["bigbuy"] = FORMAT_TYPES["csv"]


def _content_type(request: Request) -> tuple[str, str | None]:
    """The declared media type (lower case) and its charset parameter, if any."""
    media, _, params = request.headers.get("content-type", "").partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    return media.strip().lower(), charset


@router.post("/imports")
async def import_file(
    request: Request,
    engine: EngineDep,
    principal: Operator,
    format: Annotated[Literal["jsonl", "csv", "bigbuy"], Query()],
    currency: Annotated[str, Query(pattern="^[A-Z]{3}$")] = "EUR",
    encoding: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Stream an import file (JSON Lines, our CSV, or BigBuy's product CSV) and apply it.

    Every valid row is applied; the answer (and GET /imports/{id}) lists each bad row with its
    line, field, code and reason. `currency` is the currency of BigBuy's prices (EUR);
    `encoding` the file's text encoding (default: the Content-Type's charset, else utf-8).
    Whole-file problems are 4xx: 415 `bad_file` for a declared content type of another format,
    422 `bad_file` / `empty_file` / `bad_encoding` / `unsupported_encoding`.
    """
    media, charset = _content_type(request)
    if media not in NEUTRAL_TYPES and media not in FORMAT_TYPES[format]:
        raise HTTPException(
            415,
            detail={
                "code": "bad_file",
                "message": f"the body is declared {media!r}, which is not format={format}",
                "details": [{"field": "content-type", "format": format}],
            },
        )
    try:
        report = await run_import(
            engine,
            request.stream(),
            format,
            currency=currency,
            encoding=encoding or charset or "utf-8",
            by=principal.subject,
        )
    except FormatError as exc:
        raise HTTPException(
            422,
            detail={
                "code": exc.code,
                "message": str(exc),
                "details": [{"format": format, "encoding": encoding or charset or "utf-8"}],
            },
        ) from None
    except ImportFailed as exc:
        # Part of the file may be applied: the answer carries the kept report, which says how
        # far. A body that could not be read is the client's (400), anything else ours (503).
        cause = exc.__cause__
        if isinstance(cause, HTTPException):
            raise cause from None  # e.g. the body size limit's own answer
        raise HTTPException(
            400 if exc.upload else 503,
            detail={
                "code": "upload_failed" if exc.upload else "import_failed",
                "message": exc.report.error or "the import failed",
                "details": [exc.report.summary()],
            },
        ) from None
    return report.as_dict()


@router.get("/imports")
async def list_imports(
    engine: EngineDep,
    _: Viewer,
    format: Literal["jsonl", "csv", "bigbuy", "upstream"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The latest import reports (and upstream batches with rejected records), newest first."""
    async with engine.connect() as conn:
        pg = await repo.raw(conn)
        rows = await pg.fetch(
            "SELECT * FROM imports WHERE $1::text IS NULL OR format = $1"
            " ORDER BY started_at DESC LIMIT $2",
            format,
            limit,
        )
    return {"imports": [import_view(r) for r in rows]}


def import_view(row: Any) -> dict[str, Any]:
    out = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dict(row).items()}
    out["id"] = str(row["id"])
    return out


@router.get("/imports/{import_id}", responses=NOT_FOUND)
async def get_import(import_id: uuid.UUID, engine: EngineDep, _: Viewer) -> dict[str, Any]:
    async with engine.connect() as conn:
        pg = await repo.raw(conn)
        row = await pg.fetchrow("SELECT * FROM imports WHERE id = $1", import_id)
    if row is None:
        raise not_found("import", str(import_id))
    return import_view(row)


@router.get("/imports/{import_id}/errors")
async def import_errors(
    import_id: uuid.UUID,
    engine: EngineDep,
    _: Viewer,
    after: Annotated[int, Query(ge=-1, le=INT4_MAX, description="The last seq seen")] = -1,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    async with engine.connect() as conn:
        pg = await repo.raw(conn)
        rows = await pg.fetch(
            "SELECT seq, line, sku, field, code, reason FROM import_errors"
            " WHERE import_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            import_id,
            after,
            limit,
        )
    errors = [dict(r) for r in rows]
    return {"errors": errors, "next_after": errors[-1]["seq"] if len(errors) == limit else None}


# --- products --------------------------------------------------------------------------------


def product_view(
    product: Any, available: int | None = None, operator_title: str | None = None
) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "ean": product.ean,
        "title": product.title,
        "description": product.description,
        "images": product.images,
        "supplier_category": product.category_path,
        "brand": product.brand,
        "weight_kg": None if product.weight_kg is None else str(product.weight_kg),
        "cost": None
        if product.cost_amount is None
        else {"amount": str(product.cost_amount), "currency": product.cost_currency},
        "rrp": None
        if product.rrp_amount is None
        else {"amount": str(product.rrp_amount), "currency": product.rrp_currency},
        "stock": product.stock,
        "available_stock": available,
        "attributes": product.attributes,
        "updated_at": product.updated_at.isoformat() if product.updated_at else None,
        "source": product.source,
        "flags": product.flags,
        "operator_title": operator_title,
        "received": product.received,
    }


@router.get("/products")
async def list_products(
    engine: EngineDep,
    _: Viewer,
    after: str | None = None,
    category: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    async with engine.connect() as conn:
        page = await repo.product_page(
            conn, after, limit, normalise_category(category) if category else None
        )
    return {
        "products": [product_view(p) for p in page],
        "next_after": page[-1].sku if len(page) == limit else None,
    }


@router.get("/products/{sku}", responses=NOT_FOUND)
async def get_product(sku: str, engine: EngineDep, _: Viewer) -> dict[str, Any]:
    async with engine.connect() as conn:
        product = (await repo.load_products(conn, [sku])).get(sku)
        if product is None:
            raise not_found("product", sku)
        reservations = (await repo.open_reservations(conn, [sku])).get(sku, [])
        lag = await repo.reservation_lag(conn)
        titles = await repo.title_overrides(conn, [sku])
        names = await repo.names(conn)
    view = product_view(
        product,
        available_stock(product.stock, product.stock_at, reservations, lag),
        titles.get(sku),
    )
    # The ids stay the product's; the names are shown beside them.
    named = names.resolve(product)
    view["supplier_category_name"] = named.category_path
    view["brand_name"] = named.brand
    view["flags"] = [*view["flags"], *names.flags(product)]
    view["reservations"] = [
        {
            "quantity": q,
            "reserved_at": at.isoformat(),
            "pending": product.stock_at is None or at + lag > product.stock_at,
        }
        for q, at in reservations
    ]
    return view


class TitleBody(BaseModel):
    title: str = Field(
        min_length=1,
        max_length=ALLEGRO_TITLE_MAX,
        pattern=r"\S",
        description="The offer title for this SKU (Allegro's limit: 75 characters)",
    )


@router.put("/products/{sku}/title", responses=NOT_FOUND)
async def set_title(sku: str, body: TitleBody, engine: EngineDep, who: Operator) -> dict[str, Any]:
    """The operator's title for a SKU: it replaces the supplier's (shortened or not) in every
    account's items and in screening, until removed."""
    title = " ".join(body.title.split())
    async with engine.begin() as conn:
        emitted = await _retitle(conn, sku, title, who.subject)
    return {"sku": sku, "title": title, "emitted_items": emitted}


@router.delete("/products/{sku}/title", responses=NOT_FOUND)
async def remove_title(sku: str, engine: EngineDep, _: Operator) -> dict[str, Any]:
    """Back to the supplier's title."""
    async with engine.begin() as conn:
        emitted = await _retitle(conn, sku, None, None)
    return {"sku": sku, "title": None, "emitted_items": emitted}


async def _retitle(conn: Any, sku: str, title: str | None, by: str | None) -> int:
    product = (await repo.load_products(conn, [sku], lock=True)).get(sku)
    if product is None:
        raise not_found("product", sku)
    await repo.set_title_override(conn, sku, title, by)
    return await publish(UnitOfWork(conn, "catalog"), [product], await load_context(conn))


# --- BigBuy's reference lists --------------------------------------------------------------

MAX_LIST_BYTES = 50 * 1024 * 1024  # manufacturers: a few thousand rows; taxonomies x languages


async def _list_records(request: Request, fmt: str) -> list[dict[str, Any]]:
    body = await request.body()
    if len(body) > MAX_LIST_BYTES:
        raise HTTPException(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            detail={"code": "too_large", "message": f"at most {MAX_LIST_BYTES} bytes"},
        )
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
        raise HTTPException(
            422,
            detail={"code": "bad_file", "message": f"not a {fmt} list: {exc}"[:300]},
        ) from exc


ListFormat = Annotated[Literal["json", "csv"], Query(description="BigBuy's JSON (API) or CSV")]


@router.put("/reference/taxonomies", responses=error_responses(413, 422))
async def import_taxonomies(
    request: Request,
    engine: EngineDep,
    _: Operator,
    format: ListFormat = "json",
    language: Annotated[str, Query(pattern="^[a-z]{2}$")] = "en",
) -> dict[str, Any]:
    """BigBuy's taxonomies (`{id, name, parentTaxonomy, isoCode}`; CSV: same columns, or
    `parent`), in `language` unless a row has `isoCode`. Upserts (names merge per language),
    then re-resolves every product: items whose names changed are sent again."""
    rows, errors = read_list(await _list_records(request, format), taxonomies=True)
    async with engine.begin() as conn:
        stored = await repo.upsert_taxonomies(conn, rows, language)
        emitted = await resync(UnitOfWork(conn, "catalog"))
    return {"stored": stored, "errors": [e.as_dict() for e in errors], "emitted_items": emitted}


@router.put("/reference/manufacturers", responses=error_responses(413, 422))
async def import_manufacturers(
    request: Request, engine: EngineDep, _: Operator, format: ListFormat = "json"
) -> dict[str, Any]:
    """BigBuy's manufacturers (`{id, name}`), JSON or CSV; then re-resolves every product."""
    rows, errors = read_list(await _list_records(request, format), taxonomies=False)
    async with engine.begin() as conn:
        stored = await repo.upsert_manufacturers(conn, rows)
        emitted = await resync(UnitOfWork(conn, "catalog"))
    return {"stored": stored, "errors": [e.as_dict() for e in errors], "emitted_items": emitted}


@router.get("/reference")
async def reference_counts(engine: EngineDep, _: Viewer) -> dict[str, Any]:
    async with engine.connect() as conn:
        names = await repo.names(conn)
    return {"taxonomies": len(names.taxonomies), "manufacturers": len(names.manufacturers)}


class StockSettingsBody(BaseModel):
    reservation_lag_seconds: float = Field(
        ge=0,
        le=7 * 86400,
        description="How long an order takes to reach the supplier's stock figure",
    )


@router.get("/settings/stock")
async def get_stock_settings(engine: EngineDep, _: Viewer) -> dict[str, Any]:
    async with engine.connect() as conn:
        lag = await repo.reservation_lag(conn)
    return {"reservation_lag_seconds": lag.total_seconds()}


@router.put("/settings/stock")
async def put_stock_settings(
    body: StockSettingsBody, engine: EngineDep, _: Operator
) -> dict[str, Any]:
    """Change the reservation lag; products with open reservations are re-sent if it matters."""
    async with engine.begin() as conn:
        await repo.set_reservation_lag(conn, timedelta(seconds=body.reservation_lag_seconds))
        pg = await repo.raw(conn)
        skus = [
            r["sku"]
            for r in await pg.fetch(
                "SELECT DISTINCT sku FROM reservations WHERE cancelled_at IS NULL AND sku <> '*'"
            )
        ]
        uow = UnitOfWork(conn, "catalog")
        products = await repo.load_products(conn, sorted(skus), lock=True)
        emitted = await publish(uow, list(products.values()), await load_context(conn))
    return {"reservation_lag_seconds": body.reservation_lag_seconds, "emitted_items": emitted}


# --- selection -------------------------------------------------------------------------------


class RulesBody(BaseModel):
    categories: list[Annotated[str, Field(max_length=500)]] = Field(default=[], max_length=5000)
    brands: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=5000)
    skus: list[Annotated[str, Field(max_length=64)]] = Field(default=[], max_length=200_000)


class SelectionBody(BaseModel):
    include: RulesBody = Field(description="What to list; `{}` lists nothing")
    exclude: RulesBody = Field(default_factory=RulesBody)

    def selection(self) -> Selection:
        return Selection.from_dict(self.model_dump())


@router.get("/accounts/{account_id}/selection", responses=OF_ACCOUNT)
async def get_selection(_: Viewer, account_id: KnownAccount, engine: EngineDep) -> dict[str, Any]:
    async with engine.connect() as conn:
        selection = (await repo.selections(conn, [account_id])).get(account_id)
        listed = len(await repo.listed_skus(conn, account_id))
    return {
        "account_id": account_id,
        "selection": (selection or Selection()).as_dict(),
        "saved": selection is not None,
        "listed": listed,
    }


class ListingBody(BaseModel):
    not_blocking: list[Literal["no_image", "no_ean", "no_weight", "no_category"]] = Field(
        default_factory=list,
        max_length=4,
        description="Reasons this account lists a product despite (screening never waives)",
    )
    product_cap: int | None = Field(
        default=None, ge=1, le=10_000_000, description="Products this shop may offer (45,000)"
    )
    cap_order: Literal["margin", "stock", "priority", "sku"] = Field(
        default="margin",
        description="Which products stay within the cap: highest margin (RRP - cost), most"
        " stock, or the `priority` list's order; SKU breaks ties",
    )
    priority: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=200_000
    )


@router.get("/accounts/{account_id}/listing", responses=OF_ACCOUNT)
async def get_listing(_: Viewer, account_id: KnownAccount, engine: EngineDep) -> dict[str, Any]:
    """What blocks publication for this account: every reason, and those it waives."""
    async with engine.connect() as conn:
        waived = (await repo.waived_reasons(conn, [account_id])).get(account_id, frozenset())
        policy = await repo.cap_policy(conn, account_id)
    return {
        "account_id": account_id,
        "reasons": REASONS,
        "not_blocking": sorted(waived),
        "product_cap": policy.cap,
        "cap_order": policy.order,
        "priority": list(policy.priority),
    }


@router.put("/accounts/{account_id}/listing", responses=OF_ACCOUNT)
async def set_listing(
    body: ListingBody, _: Operator, account_id: KnownAccount, engine: EngineDep
) -> dict[str, Any]:
    """Change what this account waives; its products are re-decided and re-sent at once."""
    async with engine.begin() as conn:
        await repo.set_waived_reasons(
            conn,
            account_id,
            list(body.not_blocking),
            body.product_cap,
            body.cap_order,
            body.priority,
        )
        emitted = await resync(UnitOfWork(conn, "catalog"), account_ids=[account_id])
        policy = await repo.cap_policy(conn, account_id)
    return {
        "account_id": account_id,
        "not_blocking": sorted(set(body.not_blocking)),
        "product_cap": policy.cap,
        "cap_order": policy.order,
        "emitted_items": emitted,
    }


@router.post("/accounts/{account_id}/selection/preview", responses=OF_ACCOUNT)
async def preview_selection(
    _: Viewer,
    account_id: KnownAccount,
    body: SelectionBody,
    engine: EngineDep,
    page_size: Annotated[int, Query(ge=0, le=500)] = 50,
    after: Annotated[str | None, Query(description="Next page: the last SKU seen")] = None,
) -> dict[str, Any]:
    """What saving this selection would list, withdraw and keep: counts and a page."""
    async with engine.connect() as conn:
        result = await preview(conn, account_id, body.selection(), page_size, after)
    return {"account_id": account_id, "selection": body.selection().as_dict(), **result.as_dict()}


@router.put("/accounts/{account_id}/selection", responses=OF_ACCOUNT)
async def save_selection(
    principal: Operator, account_id: KnownAccount, body: SelectionBody, engine: EngineDep
) -> dict[str, Any]:
    """Save the selection; CatalogUpdated: full items entering, listed=false leaving."""
    async with engine.begin() as conn:
        uow = UnitOfWork(conn, "catalog")
        await repo.save_selection(conn, account_id, body.selection(), principal.subject)
        emitted = await resync(uow, account_ids=[account_id])
        listed = len(await repo.listed_skus(conn, account_id))
    return {
        "account_id": account_id,
        "selection": body.selection().as_dict(),
        "emitted_items": emitted,
        "listed": listed,
    }


class SelectionPatch(BaseModel):
    """A partial change: each part sent replaces that part; at least one part."""

    include: RulesBody | None = None
    exclude: RulesBody | None = None


@router.patch("/accounts/{account_id}/selection", responses=OF_ACCOUNT)
async def patch_selection(
    principal: Operator, account_id: KnownAccount, body: SelectionPatch, engine: EngineDep
) -> dict[str, Any]:
    """Replace the include or the exclude part of the saved selection, keeping the other."""
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise HTTPException(
            422,
            detail={
                "code": "validation_failed",
                "message": "send include, exclude or both",
                "details": [{"field": "body", "reason": "nothing to change"}],
            },
        )
    async with engine.begin() as conn:
        current = (await repo.selections(conn, [account_id])).get(account_id) or Selection()
        selection = Selection.from_dict({**current.as_dict(), **changes})
        await repo.save_selection(conn, account_id, selection, principal.subject)
        emitted = await resync(UnitOfWork(conn, "catalog"), account_ids=[account_id])
        listed = len(await repo.listed_skus(conn, account_id))
    return {
        "account_id": account_id,
        "selection": selection.as_dict(),
        "emitted_items": emitted,
        "listed": listed,
    }


# --- screening -------------------------------------------------------------------------------


class RuleBody(BaseModel):
    kind: Literal["category", "brand", "keyword", "exception"]
    pattern: str = Field(min_length=1, max_length=500)
    reason: str = Field(min_length=1, max_length=500)


@router.get("/screening/rules")
async def list_rules(engine: EngineDep, _: Viewer) -> dict[str, Any]:
    async with engine.connect() as conn:
        rules = await repo.screening_rules(conn)
    return {"rules": [r.__dict__ for r in rules]}


@router.post("/screening/rules", status_code=status.HTTP_201_CREATED)
async def add_rule(body: RuleBody, engine: EngineDep, _: Operator) -> dict[str, Any]:
    """Add a rule; products it blocks are withdrawn (listed=false) from every account."""
    async with engine.begin() as conn:
        pg = await repo.raw(conn)
        rule_id = await pg.fetchval(
            "INSERT INTO screening_rules (kind, pattern, reason) VALUES ($1, $2, $3)"
            " ON CONFLICT (kind, pattern) DO UPDATE SET reason = excluded.reason RETURNING id",
            body.kind,
            body.pattern.strip(),
            body.reason,
        )
        emitted = await resync(UnitOfWork(conn, "catalog"))
    return {"id": rule_id, **body.model_dump(), "emitted_items": emitted}


@router.delete("/screening/rules/{rule_id}", responses=NOT_FOUND)
async def delete_rule(rule_id: Int4Id, engine: EngineDep, _: Operator) -> dict[str, Any]:
    async with engine.begin() as conn:
        pg = await repo.raw(conn)
        deleted = await pg.fetchval(
            "DELETE FROM screening_rules WHERE id = $1 RETURNING id", rule_id
        )
        if deleted is None:
            raise not_found("screening rule", str(rule_id))
        emitted = await resync(UnitOfWork(conn, "catalog"))
    return {"deleted": rule_id, "emitted_items": emitted}


@router.get("/accounts/{account_id}/screened", responses=OF_ACCOUNT)
async def screened_products(
    _: Viewer,
    account_id: KnownAccount,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    """Products of the account's selection that screening blocks, with the blocking rule."""
    async with engine.connect() as conn:
        ctx = await load_context(conn, [account_id])
        selection = ctx.selections.get(account_id, Selection())
        out: list[dict[str, Any]] = []
        total = 0
        after: str | None = None
        while True:
            page = await repo.product_page(conn, after, SCAN_CHUNK)
            if not page:
                break
            for product in page:
                decision = decide(product, selection, ctx.screen, ctx.names)
                if decision.blocked is None:
                    continue
                total += 1
                if len(out) < limit:
                    out.append(
                        {
                            "sku": product.sku,
                            "title": product.title,
                            "brand": product.brand,
                            "supplier_category": product.category_path,
                            "rule": decision.blocked.__dict__,
                        }
                    )
            after = page[-1].sku
    return {"account_id": account_id, "total": total, "products": out}


@router.get("/accounts/{account_id}/not-listable", responses=OF_ACCOUNT)
async def not_listable_products(
    _: Viewer,
    account_id: KnownAccount,
    engine: EngineDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    """Selected products Allegro would not take, each with every reason at once (codes and
    plain words), and the counts by reason over the whole selection."""
    async with engine.connect() as conn:
        ctx = await load_context(conn, [account_id])
        selection = ctx.selections.get(account_id, Selection())
        waived = ctx.waived.get(account_id, frozenset())
        out: list[dict[str, Any]] = []
        by_reason: dict[str, int] = {}
        total = 0
        cursor: str | None = None
        while True:
            page = await repo.product_page(conn, cursor, SCAN_CHUNK)
            if not page:
                break
            capped = await repo.capped_skus(conn, account_id, [p.sku for p in page])
            for product in page:
                decision = decide(
                    product,
                    selection,
                    ctx.screen,
                    ctx.names,
                    mapped=ctx.is_mapped(product),
                    waived=waived,
                    over_cap=product.sku in capped,
                )
                if not decision.reasons:
                    continue
                total += 1
                for reason in decision.reasons:
                    by_reason[reason] = by_reason.get(reason, 0) + 1
                if len(out) < limit and (after is None or product.sku > after):
                    out.append(
                        {
                            "sku": product.sku,
                            "title": product.title,
                            "reasons": list(decision.reasons),
                            "in_words": [REASONS[r] for r in decision.reasons],
                            "rule": None if decision.blocked is None else decision.blocked.__dict__,
                        }
                    )
            cursor = page[-1].sku
    return {
        "account_id": account_id,
        "total": total,
        "by_reason": by_reason,
        "products": out,
        "next_after": out[-1]["sku"] if len(out) == limit else None,
    }


# --- category mapping ------------------------------------------------------------------------


class MappingBody(BaseModel):
    supplier_category: str = Field(min_length=1, max_length=500)
    allegro_category_id: str = Field(min_length=1, max_length=100)
    marketplace: Literal["", "allegro-pl", "allegro-cz", "allegro-sk", "allegro-hu"] = ""


@router.get("/category-mappings")
async def list_mappings(engine: EngineDep, _: Viewer) -> dict[str, Any]:
    async with engine.connect() as conn:
        pg = await repo.raw(conn)
        rows = await pg.fetch(
            "SELECT supplier_category, marketplace, allegro_category_id, source, updated_at"
            " FROM category_mappings ORDER BY supplier_category, marketplace"
        )
    return {"mappings": [{**dict(r), "updated_at": r["updated_at"].isoformat()} for r in rows]}


async def check_leaf(deps: CatalogDeps, account_id: str, category_id: str) -> str:
    """Allegro's name of `category_id`; 422 unless it exists and is a leaf."""
    assert deps.client is not None
    try:
        found = await deps.client.get(
            f"/sale/categories/{quote(category_id, safe='')}", account_id=account_id
        )
    except AllegroError as exc:
        if exc.status != 404:
            raise
        found = None
    if found is None or not found.get("leaf"):
        raise HTTPException(
            422,
            detail={
                "code": "not_a_leaf_category",
                "message": f"Allegro category {category_id} "
                + ("does not exist" if found is None else "is not a leaf: offers need a leaf"),
                "details": {"allegro_category_id": category_id},
            },
        )
    return str(found.get("name", ""))


@router.put("/category-mappings", responses=ASKS_ALLEGRO)
async def put_mapping(
    request: Request,
    body: MappingBody,
    engine: EngineDep,
    deps: Deps,
    _: Operator,
    check_as: Annotated[
        str | None, Query(description="Check the category with Allegro as this account")
    ] = None,
) -> dict[str, Any]:
    """Map a supplier category (exact path) to an Allegro leaf; its listed items are re-sent.

    With `check_as=<account id>`, Allegro confirms the category exists and is a leaf first.
    """
    category = normalise_category(body.supplier_category)
    allegro_name = None
    if check_as:
        await ensure_known(request, check_as)
        allegro_name = await check_leaf(deps, check_as, body.allegro_category_id)
    async with engine.begin() as conn:
        pg = await repo.raw(conn)
        await pg.execute(
            "INSERT INTO category_mappings (supplier_category, marketplace, allegro_category_id,"
            " source, updated_at) VALUES ($1, $2, $3, 'manual', now())"
            " ON CONFLICT (supplier_category, marketplace) DO UPDATE"
            " SET allegro_category_id = excluded.allegro_category_id, source = 'manual',"
            " updated_at = now()",
            category,
            body.marketplace,
            body.allegro_category_id,
        )
        emitted = await resync(UnitOfWork(conn, "catalog"), category=category)
    return {
        **body.model_dump(),
        "supplier_category": category,
        "allegro_category_name": allegro_name,
        "emitted_items": emitted,
    }


@router.delete("/category-mappings", responses=NOT_FOUND)
async def delete_mapping(
    engine: EngineDep, _: Operator, supplier_category: str, marketplace: str = ""
) -> dict[str, Any]:
    category = normalise_category(supplier_category)
    async with engine.begin() as conn:
        pg = await repo.raw(conn)
        deleted = await pg.fetchval(
            "DELETE FROM category_mappings WHERE supplier_category = $1 AND marketplace = $2"
            " RETURNING 1",
            category,
            marketplace,
        )
        if deleted is None:
            raise not_found("mapping", category)
        emitted = await resync(UnitOfWork(conn, "catalog"), category=category)
    return {"deleted": category, "marketplace": marketplace, "emitted_items": emitted}


@router.get("/category-mappings/unmapped")
async def unmapped_categories(engine: EngineDep, _: Viewer) -> dict[str, Any]:
    """Supplier categories without a mapping, with how many products each holds."""
    async with engine.connect() as conn:
        pg = await repo.raw(conn)
        rows = await pg.fetch(
            "SELECT p.category_path, count(*) AS products FROM products p"
            " WHERE p.category_path IS NOT NULL AND NOT EXISTS (SELECT 1 FROM category_mappings m"
            " WHERE m.supplier_category = p.category_path)"
            " GROUP BY p.category_path ORDER BY count(*) DESC, p.category_path"
        )
    return {"categories": [dict(r) for r in rows]}


class SuggestBody(BaseModel):
    supplier_category: str = Field(min_length=1, max_length=500)
    refresh: bool = False


@router.post("/accounts/{account_id}/category-suggestions", responses=ASKS_ALLEGRO)
async def category_suggestions(
    _: Operator, account_id: KnownAccount, body: SuggestBody, deps: Deps
) -> dict[str, Any]:
    """Allegro categories for a supplier category, asked as `account_id` (cached)."""
    assert deps.lookups is not None
    return await suggest_categories(
        deps.engine,
        deps.lookups,
        account_id,
        normalise_category(body.supplier_category),
        refresh=body.refresh,
    )


class SuggestUnmappedBody(BaseModel):
    limit: int = Field(default=20, ge=1, le=200)


@router.post("/accounts/{account_id}/category-suggestions/unmapped", responses=ASKS_ALLEGRO)
async def suggest_unmapped(
    _: Operator, account_id: KnownAccount, deps: Deps, body: SuggestUnmappedBody | None = None
) -> dict[str, Any]:
    """Suggestions for the largest unmapped supplier categories (cached ones cost nothing)."""
    assert deps.lookups is not None
    limit = body.limit if body else 20
    async with deps.engine.connect() as conn:
        pg = await repo.raw(conn)
        rows = await pg.fetch(
            "SELECT p.category_path, count(*) AS products FROM products p"
            " WHERE p.category_path IS NOT NULL AND NOT EXISTS (SELECT 1 FROM category_mappings m"
            " WHERE m.supplier_category = p.category_path)"
            " GROUP BY p.category_path ORDER BY count(*) DESC, p.category_path LIMIT $1",
            limit,
        )
    out = []
    for row in rows:
        found = await suggest_categories(
            deps.engine, deps.lookups, account_id, row["category_path"]
        )
        out.append({**found, "products": row["products"]})
    return {"categories": out}


class AcceptBody(BaseModel):
    supplier_categories: list[Annotated[str, Field(max_length=500)]] = Field(max_length=1000)


@router.post("/category-mappings/accept-suggestions")
async def accept_suggestions(body: AcceptBody, engine: EngineDep, _: Operator) -> dict[str, Any]:
    """Map each category to its best cached suggestion (source `suggested`)."""
    categories = [normalise_category(c) for c in body.supplier_categories]
    accepted: dict[str, str] = {}
    emitted = 0
    async with engine.begin() as conn:
        pg = await repo.raw(conn)
        rows = await pg.fetch(
            "SELECT supplier_category, suggestions::text AS s FROM category_suggestions"
            " WHERE supplier_category = ANY($1::text[])",
            categories,
        )
        for row in rows:
            suggestions = orjson.loads(row["s"])
            if suggestions:
                accepted[row["supplier_category"]] = suggestions[0]["allegro_category_id"]
        await pg.execute(
            "INSERT INTO category_mappings (supplier_category, marketplace, allegro_category_id,"
            " source, updated_at) SELECT u.c, '', u.id, 'suggested', now()"
            " FROM unnest($1::text[], $2::text[]) AS u(c, id)"
            " ON CONFLICT (supplier_category, marketplace) DO UPDATE"
            " SET allegro_category_id = excluded.allegro_category_id, source = 'suggested',"
            " updated_at = now()",
            list(accepted),
            list(accepted.values()),
        )
        uow = UnitOfWork(conn, "catalog")
        for category in accepted:
            emitted += await resync(uow, category=category)
    return {
        "accepted": accepted,
        "without_suggestion": [c for c in categories if c not in accepted],
        "emitted_items": emitted,
    }


# --- coverage --------------------------------------------------------------------------------


class CoverageBody(BaseModel):
    selection: SelectionBody | None = Field(
        default=None, description="A selection to assess; default: the account's saved one"
    )


def coverage_view(row: Any) -> dict[str, Any]:
    total, processed = row["total"], row["processed"]
    return {
        "report_id": str(row["id"]),
        "account_id": row["account_id"],
        "status": row["status"],
        "progress": {
            "processed": processed,
            "total": total,
            "ratio": round(processed / total, 4) if total else 1.0,
        },
        "selection": orjson.loads(row["selection"]),
        "counts": orjson.loads(row["counts"]),
        "by_category": orjson.loads(row["by_category"]),
        "started_at": row["started_at"].isoformat(),
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
        "error": row["error"],
    }


_COVERAGE = (
    "SELECT id, account_id, status, total, processed, selection::text AS selection,"
    " counts::text AS counts, by_category::text AS by_category, started_at, finished_at, error"
    " FROM coverage_reports"
)


@router.post(
    "/accounts/{account_id}/coverage",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409, 503),
)
async def request_coverage(
    _: Operator, account_id: KnownAccount, deps: Deps, body: CoverageBody | None = None
) -> dict[str, Any]:
    """Start a coverage report in the background; follow it with GET /coverage/{id}."""
    selection = body.selection.selection() if body and body.selection else None
    if selection is None:
        async with deps.engine.connect() as conn:
            selection = (await repo.selections(conn, [account_id])).get(account_id)
    if selection is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail={
                "code": "no_selection",
                "message": "the account has no saved selection; send one in the body",
                "details": {"account_id": account_id},
            },
        )
    report_id = await start_coverage(deps.engine, account_id, selection)
    deps.run_coverage(report_id)
    return {"report_id": str(report_id), "status": "running"}


@router.get("/coverage/{report_id}", responses=NOT_FOUND)
async def get_coverage(report_id: uuid.UUID, engine: EngineDep, _: Viewer) -> dict[str, Any]:
    async with engine.connect() as conn:
        pg = await repo.raw(conn)
        row = await pg.fetchrow(_COVERAGE + " WHERE id = $1", report_id)
    if row is None:
        raise not_found("coverage report", str(report_id))
    return coverage_view(row)


@router.get("/accounts/{account_id}/coverage", responses=OF_ACCOUNT)
async def latest_coverage(_: Viewer, account_id: KnownAccount, engine: EngineDep) -> dict[str, Any]:
    async with engine.connect() as conn:
        pg = await repo.raw(conn)
        row = await pg.fetchrow(
            _COVERAGE + " WHERE account_id = $1 ORDER BY started_at DESC LIMIT 1", account_id
        )
    if row is None:
        raise not_found("coverage report for account", account_id)
    return coverage_view(row)


@router.post(
    "/coverage/{report_id}/resume", status_code=status.HTTP_202_ACCEPTED, responses=NOT_FOUND
)
async def resume_coverage(report_id: uuid.UUID, deps: Deps, _: Operator) -> dict[str, Any]:
    """Continue a failed (or stalled) report from where it stopped."""
    async with deps.engine.begin() as conn:
        pg = await repo.raw(conn)
        found = await pg.fetchval(
            "UPDATE coverage_reports SET status = 'running', error = NULL, updated_at = now()"
            " WHERE id = $1 AND status <> 'done' RETURNING id",
            report_id,
        )
    if found is None:
        raise not_found("unfinished coverage report", str(report_id))
    deps.run_coverage(report_id)
    return {"report_id": str(report_id), "status": "running"}
