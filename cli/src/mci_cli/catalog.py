"""`mci catalog`: imports, selections and coverage reports (catalog)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from mci_cli.errors import REFUSED, USAGE, Failure
from mci_cli.http import Api
from mci_cli.output import emit, err, fields, out, table
from mci_cli.state import JsonFlag, state

app = typer.Typer(help="The supplier catalogue (catalog).", no_args_is_help=True)
selection_app = typer.Typer(help="Which products an account lists.", no_args_is_help=True)
app.add_typer(selection_app, name="selection")

CHUNK = 256 * 1024
ERROR_COLUMNS = ["line", "sku", "field", "code", "reason"]
REPORT_FIELDS = [
    "import_id",
    "format",
    "encoding",
    "status",
    "rows",
    "valid",
    "invalid",
    "changed",
    "unchanged",
    "superseded",
    "emitted_items",
    "applied_through_line",
    "error",
]


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    bigbuy = "bigbuy"


def _stream(path: Path, progress: Progress | None) -> Iterator[bytes]:
    task = None if progress is None else progress.add_task("upload", total=path.stat().st_size)
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            if progress is not None and task is not None:
                progress.advance(task, len(chunk))
            yield chunk


def _all_errors(api: Api, import_id: str) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 1000}
    while True:
        page = api.get(f"/imports/{import_id}/errors", **params)
        yield from page["items"]
        if page.get("next") is None:
            return
        params["after"] = page["next"]


@app.command("import")
def import_file(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The file to send")
    ],
    format: Annotated[Format, typer.Option("--format", help="The file's format")],
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="The file's text encoding (default utf-8)")
    ] = None,
    currency: Annotated[
        str | None, typer.Option("--currency", help="The currency of BigBuy's prices (EUR)")
    ] = None,
    show_errors: Annotated[
        int, typer.Option("--show-errors", min=0, help="How many bad rows to print")
    ] = 20,
    errors_out: Annotated[
        Path | None,
        typer.Option("--errors-out", dir_okay=False, help="Write every bad row there (JSON Lines)"),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if any row was refused")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Upload a catalogue file (streamed, with a progress bar) and print its import report."""
    size = file.stat().st_size
    with state(ctx).api("catalog") as api:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as progress:
            report = api.request(
                "POST",
                "/imports",
                params={"format": format.value, "encoding": encoding, "currency": currency},
                content=_stream(file, progress),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(size),
                },
            )
        saved = 0
        if errors_out is not None:
            with errors_out.open("w", encoding="utf-8") as sink:
                for error in _all_errors(api, report["import_id"]):
                    sink.write(json.dumps(error, ensure_ascii=False) + "\n")
                    saved += 1

    def human() -> None:
        fields({k: report.get(k) for k in REPORT_FIELDS if k in report}, title="import")
        errors = report.get("errors") or []
        if errors and show_errors:
            shown = errors[:show_errors]
            table(shown, ERROR_COLUMNS, title=f"bad rows ({len(shown)} of {report['invalid']})")
        if errors_out is not None:
            out.print(f"{saved} bad rows written to {errors_out}")
        elif report.get("invalid"):
            out.print("every bad row: --errors-out FILE")

    emit(report, as_json, human)
    if strict and report.get("invalid"):
        raise Failure(REFUSED, f"{report['invalid']} of {report['rows']} rows were refused")


@app.command()
def imports(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The latest import reports, newest first."""
    with state(ctx).api("catalog") as api:
        found = api.get("/imports", limit=limit)
    columns = ["id", "format", "status", "rows", "valid", "invalid", "changed", "started_at"]
    emit(found, as_json, lambda: table(found["items"], columns))


def _selection_rows(selection: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for part in ("include", "exclude"):
        for kind in ("categories", "brands", "skus"):
            for value in selection.get(part, {}).get(kind, []):
                rows.append({"part": part, "kind": kind, "value": value})
    return rows


@selection_app.command("show")
def selection_show(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
    as_json: JsonFlag = False,
) -> None:
    """The account's saved selection and how many products it lists."""
    with state(ctx).api("catalog") as api:
        found = api.get(f"/accounts/{account}/selection")

    def human() -> None:
        out.print(
            f"account {found['account_id']}: {found['listed']} products listed"
            + ("" if found["saved"] else " (no selection saved)")
        )
        table(_selection_rows(found["selection"]), ["part", "kind", "value"], title="selection")

    emit(found, as_json, human)


@selection_app.command("set")
def selection_set(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
    category: Annotated[
        list[str] | None, typer.Option("--category", help="Include a category (repeatable)")
    ] = None,
    brand: Annotated[list[str] | None, typer.Option("--brand", help="Include a brand")] = None,
    sku: Annotated[list[str] | None, typer.Option("--sku", help="Include a SKU")] = None,
    exclude_category: Annotated[list[str] | None, typer.Option("--exclude-category")] = None,
    exclude_brand: Annotated[list[str] | None, typer.Option("--exclude-brand")] = None,
    exclude_sku: Annotated[list[str] | None, typer.Option("--exclude-sku")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", exists=True, dir_okay=False, help='JSON: {"include": {...}, "exclude": {...}}'
        ),
    ] = None,
    preview: Annotated[
        bool, typer.Option("--preview", help="Show what it would list and withdraw; save nothing")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Replace the account's selection (from options or a JSON file)."""
    if file is not None:
        body = read_json(file)
    else:
        include = {"categories": category or [], "brands": brand or [], "skus": sku or []}
        exclude = {
            "categories": exclude_category or [],
            "brands": exclude_brand or [],
            "skus": exclude_sku or [],
        }
        if not any(include.values()) and not any(exclude.values()):
            raise Failure(USAGE, "nothing to select: give --category, --brand, --sku (or --file)")
        body = {"include": include, "exclude": exclude}
    with state(ctx).api("catalog") as api:
        if preview:
            result = api.post(f"/accounts/{account}/selection/preview", body)
        else:
            result = api.put(f"/accounts/{account}/selection", body)

    def human() -> None:
        head = {k: v for k, v in result.items() if k not in ("selection", "counts", "products")}
        counts = {f"count.{k}": v for k, v in (result.get("counts") or {}).items()}
        fields({**head, **counts}, title="preview" if preview else "saved")
        products = result.get("products")
        if products:
            columns = ["sku", "title", "brand", "supplier_category", "stock", "listed_now"]
            table(products, columns, title="products (first page)")

    emit(result, as_json, human)


@app.command()
def coverage(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
    start: Annotated[
        bool, typer.Option("--start", help="Start a new report of the saved selection")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="With --start: wait until it is done")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """The account's latest coverage report: its EANs matched in Allegro's catalogue."""
    with state(ctx).api("catalog") as api:
        if start:
            started = api.post(f"/accounts/{account}/coverage")
            report = api.get(f"/coverage/{started['report_id']}")
            while wait and report["status"] == "running":
                time.sleep(1.0)
                report = api.get(f"/coverage/{started['report_id']}")
        else:
            report = api.get(f"/accounts/{account}/coverage")

    def human() -> None:
        progress = report["progress"]
        fields(
            {
                "report_id": report["report_id"],
                "account_id": report["account_id"],
                "status": report["status"],
                "progress": f"{progress['processed']} / {progress['total']}",
                **{f"count.{k}": v for k, v in (report.get("counts") or {}).items()},
                "started_at": report["started_at"],
                "finished_at": report["finished_at"],
                "error": report["error"],
            },
            title="coverage",
        )
        by_category = report.get("by_category") or {}
        rows = [
            {"category": name, **(counts if isinstance(counts, dict) else {"count": counts})}
            for name, counts in by_category.items()
        ]
        if rows:
            columns = ["category", *sorted({k for r in rows for k in r if k != "category"})]
            table(rows, columns, title="by category")

    emit(report, as_json, human)
    if start and report["status"] == "failed":
        raise Failure(REFUSED, f"coverage report {report['report_id']} failed: {report['error']}")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise Failure(USAGE, f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise Failure(USAGE, f"{path} is not JSON: {exc}") from None
