"""`mci orders`: imported orders, their history, re-imports, fulfillment statuses and the
write-backs to Allegro, failed imports (orders)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mci_cli.output import cell, emit, fields, out, table
from mci_cli.state import JsonFlag, state

app = typer.Typer(
    help="Imported orders, write-backs to Allegro, failed imports (orders).",
    no_args_is_help=True,
)
ORDER_COLUMNS = [
    "id",
    "account_id",
    "status",
    "fulfillment_status",
    "marketplace_id",
    "buyer_login",
    "total",
    "received_at",
]
WRITE_BACK_COLUMNS = [
    "id",
    "checkout_form_id",
    "kind",
    "fulfillment_status",
    "waybill",
    "carrier_id",
    "state",
    "attempts",
    "last_error",
]
FAILURE_COLUMNS = [
    "account_id",
    "status",
    "status_reason",
    "failures",
    "last_error",
    "next_poll_at",
]

Order = Annotated[str, typer.Argument(metavar="CHECKOUT_FORM_ID")]
Limit = Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many")]


def _order_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **item,
            "total": " ".join(
                str(v)
                for v in ((item.get("total") or {}).get(k) for k in ("amount", "currency"))
                if v
            ),
        }
        for item in items
    ]


@app.command("list")
def list_orders(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option("--account")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="BOUGHT, FILLED_IN, READY_FOR_PROCESSING, ...")
    ] = None,
    marketplace: Annotated[str | None, typer.Option("--marketplace")] = None,
    buyer: Annotated[str | None, typer.Option("--buyer", help="The buyer's login")] = None,
    sku: Annotated[str | None, typer.Option("--sku")] = None,
    bought_from: Annotated[str | None, typer.Option("--from", help="Bought at or after")] = None,
    bought_to: Annotated[str | None, typer.Option("--to", help="Bought before")] = None,
    limit: Limit = 100,
    as_json: JsonFlag = False,
) -> None:
    """Imported orders (checkout forms), newest first."""
    params = {
        "account_id": account,
        "status": status,
        "marketplace_id": marketplace,
        "buyer_login": buyer,
        "sku": sku,
        "bought_from": bought_from,
        "bought_to": bought_to,
    }
    with state(ctx).api("orders") as api:
        page = api.get("/orders", limit=limit, **{k: v for k, v in params.items() if v})
    emit(page, as_json, lambda: table(_order_rows(page["items"]), ORDER_COLUMNS))


def _show(found: dict[str, Any]) -> None:
    summary = {k: v for k, v in found.items() if k not in ("form", "history", "write_backs")}
    fields(summary, title=f"order {found['id']}")
    history = [
        {"at": h["at"], "kind": h["kind"], "detail": cell(h["detail"])} for h in found["history"]
    ]
    table(history, ["at", "kind", "detail"], title="history")
    if found["write_backs"]:
        table(found["write_backs"], WRITE_BACK_COLUMNS, title="write-backs")


@app.command()
def show(ctx: typer.Context, order: Order, as_json: JsonFlag = False) -> None:
    """One order: its state, its history and its write-backs to Allegro."""
    with state(ctx).api("orders") as api:
        found = api.get(f"/orders/{order}")
    emit(found, as_json, lambda: _show(found))


@app.command()
def reimport(
    ctx: typer.Context,
    order: Order,
    account: Annotated[
        str | None, typer.Option("--account", help="Only for an order never imported")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Read the order from Allegro again and store it (handed off if paid and not yet)."""
    with state(ctx).api("orders") as api:
        result = api.post(
            f"/orders/{order}/reimport", **({"account_id": account} if account else {})
        )
    emit(result, as_json, lambda: _show(result["order"]))


@app.command("set-status")
def set_status(
    ctx: typer.Context,
    order: Order,
    status: Annotated[
        str, typer.Argument(metavar="STATUS", help="PROCESSING, READY_FOR_SHIPMENT, SENT, ...")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Set the order's fulfillment status on Allegro (written back in the background)."""
    with state(ctx).api("orders") as api:
        write_back = api.put(f"/orders/{order}/fulfillment", {"status": status})
    emit(
        write_back,
        as_json,
        lambda: out.print(f"write-back {write_back['id']}: {status} {write_back['state']}"),
    )


@app.command("write-backs")
def write_backs(
    ctx: typer.Context,
    state_: Annotated[str | None, typer.Option("--state", help="pending, done or failed")] = None,
    order: Annotated[str | None, typer.Option("--order", help="Only this order's")] = None,
    limit: Limit = 100,
    as_json: JsonFlag = False,
) -> None:
    """Shipments and fulfillment statuses written back to Allegro; failed ones with why."""
    params = {"state": state_, "checkout_form_id": order}
    with state(ctx).api("orders") as api:
        page = api.get("/write-backs", limit=limit, **{k: v for k, v in params.items() if v})
    emit(page, as_json, lambda: table(page["items"], WRITE_BACK_COLUMNS))


@app.command()
def retry(ctx: typer.Context, write_back: int, as_json: JsonFlag = False) -> None:
    """Try a failed write-back again."""
    with state(ctx).api("orders") as api:
        found = api.post(f"/write-backs/{write_back}/retry")
    emit(found, as_json, lambda: out.print(f"write-back {found['id']}: {found['state']}"))


@app.command()
def failures(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Accounts whose import fails (tokens, refresh, failing pages), with the reason."""
    with state(ctx).api("orders") as api:
        rows = api.get_all("/import/failures")
    emit(rows, as_json, lambda: table(rows, FAILURE_COLUMNS))


@app.command("retry-import")
def retry_import(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
    as_json: JsonFlag = False,
) -> None:
    """Poll the account's orders again now, its failures forgotten."""
    with state(ctx).api("orders") as api:
        result = api.post(f"/import/accounts/{account}/retry")
    emit(result, as_json, lambda: out.print(f"{account}: {result['status']}"))
