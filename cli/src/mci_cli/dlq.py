"""`mci dlq`: every service's dead-letter queues (/admin/dlq, admin)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mci_cli.config import SERVICES
from mci_cli.errors import UNREACHABLE, USAGE, Failure
from mci_cli.output import emit, err, fields, out, table
from mci_cli.state import JsonFlag, state

app = typer.Typer(help="Dead letters of every service.", no_args_is_help=True)
LETTER_COLUMNS = ["message_id", "type", "reason", "death_count", "first_death_at", "error"]


def _service(name: str) -> str:
    if name not in SERVICES:
        raise Failure(USAGE, f"unknown service {name!r}: one of {', '.join(SERVICES)}")
    return name


Service = Annotated[str, typer.Argument(metavar="SERVICE", help=", ".join(SERVICES))]
Queue = Annotated[str, typer.Argument(metavar="QUEUE")]


@app.command("list")
def list_depths(
    ctx: typer.Context,
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service (default: all five)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Each DLQ's depth. A service that cannot be reached is named; the exit code is then 3."""
    names = [_service(service)] if service else list(SERVICES)
    depths: dict[str, Any] = {}
    unreachable: list[str] = []
    for name in names:
        try:
            with state(ctx).api(name) as api:
                depths[name] = api.get("/admin/dlq")
        except Failure as failure:
            if failure.exit_code != UNREACHABLE:
                raise
            unreachable.append(failure.message)
            depths[name] = None
    rows = [
        {"service": name, "queue": queue, "depth": depth}
        for name, queues in depths.items()
        if queues is not None
        for queue, depth in queues.items()
    ]
    emit(depths, as_json, lambda: table(rows, ["service", "queue", "depth"]))
    if unreachable:
        for line in unreachable[:-1]:
            err.print(f"mci: {line}", markup=False, highlight=False)
        raise Failure(UNREACHABLE, unreachable[-1])


@app.command()
def show(
    ctx: typer.Context,
    service: Service,
    queue: Queue,
    message_id: Annotated[
        str | None, typer.Option("--id", help="One message, with its body")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonFlag = False,
) -> None:
    """The dead letters of one queue (or one of them, with its body)."""
    with state(ctx).api(_service(service)) as api:
        if message_id:
            found = api.get(f"/admin/dlq/{queue}/{message_id}")
        else:
            found = api.get(f"/admin/dlq/{queue}", limit=limit)
    if message_id:
        emit(found, as_json, lambda: fields(found, title=f"{service} {queue}"))
    else:
        emit(found, as_json, lambda: table(found, LETTER_COLUMNS, title=f"{service} {queue}"))


@app.command()
def replay(
    ctx: typer.Context,
    service: Service,
    queue: Queue,
    message_ids: Annotated[
        list[str] | None, typer.Option("--id", help="Only these messages (repeatable)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send dead letters back to their queue (all, or --id ...): a fresh failure count."""
    body = {"message_ids": message_ids} if message_ids else None
    with state(ctx).api(_service(service)) as api:
        result = api.post(f"/admin/dlq/{queue}/replay", body)
    emit(result, as_json, lambda: out.print(f"replayed {result['replayed']} from {queue}"))
