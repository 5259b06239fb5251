"""Import files (streamed and applied), their reports and their bad rows."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.exceptions import HTTPException

from catalog.api.common import NOT_FOUND
from catalog.deps import Deps
from catalog.domain import commands as c
from catalog.domain.errors import ImportStopped, UploadFailed, WrongMediaType
from catalog.handlers import imports as handlers
from catalog.ingest import ImportFailed, run_import
from catalog.parsers import FormatError
from shared.errors import Invalid
from shared.http import INT4_MAX
from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, PageQuery, PageRequest
from shared.security import Operator, Viewer

router = APIRouter()

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
    deps: Deps,
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
        raise WrongMediaType(
            f"the body is declared {media!r}, which is not format={format}",
            code="bad_file",
            details=[{"field": "content-type", "format": format}],
        )
    try:
        report = await run_import(
            deps.units,
            request.stream(),
            format,
            currency=currency,
            encoding=encoding or charset or "utf-8",
            by=principal.subject,
        )
    except FormatError as exc:
        raise Invalid(
            str(exc),
            code=exc.code,
            details=[{"format": format, "encoding": encoding or charset or "utf-8"}],
        ) from None
    except ImportFailed as exc:
        # Part of the file may be applied: the answer carries the kept report, which says how
        # far. A body that could not be read is the client's (400), anything else ours (503).
        cause = exc.__cause__
        if isinstance(cause, HTTPException):
            raise cause from None  # e.g. the body size limit's own answer
        failure = UploadFailed if exc.upload else ImportStopped
        raise failure(
            exc.report.error or "the import failed", details=[exc.report.summary()]
        ) from None
    return report.as_dict()


@router.get("/imports")
async def list_imports(
    deps: Deps,
    _: Viewer,
    page: PageQuery,
    format: Literal["jsonl", "csv", "bigbuy", "upstream"] | None = None,
) -> Page[dict[str, Any]]:
    """The latest import reports (and upstream batches with rejected records), newest first."""
    return await deps.units.read(handlers.list_imports, c.ListImports(format, page))


@router.get("/imports/{import_id}", responses=NOT_FOUND)
async def get_import(import_id: uuid.UUID, deps: Deps, _: Viewer) -> dict[str, Any]:
    return await deps.units.read(handlers.get_import, c.GetImport(import_id))


@router.get("/imports/{import_id}/errors")
async def import_errors(
    import_id: uuid.UUID,
    deps: Deps,
    _: Viewer,
    # The shared `after` + `limit`, the cursor being a row error's number: typed here, so a
    # number beyond the column is refused as any invalid parameter is.
    after: Annotated[
        int | None, Query(ge=0, le=INT4_MAX, description="The `next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[dict[str, Any]]:
    page = PageRequest(None if after is None else str(after), limit)
    return await deps.units.read(handlers.import_errors, c.ListImportErrors(import_id, page))
