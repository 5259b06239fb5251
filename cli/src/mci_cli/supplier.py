"""`mci supplier`: Allegro orders on their way to BigBuy, the wallet they are paid from, and the
operator's answers to a refusal: send again, with a corrected address, or accepting a loss (the
BigBuy connector)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mci_cli.errors import USAGE, Failure
from mci_cli.output import emit, fields, out, table
from mci_cli.state import JsonFlag, state

app = typer.Typer(
    help="Supplier (BigBuy) orders, the wallet, resends (the BigBuy connector).",
    no_args_is_help=True,
)
CONNECTOR = "bigbuy"
ORDER_COLUMNS = [
    "order_id",
    "account_id",
    "state",
    "bigbuy_order_id",
    "cost_total",
    "sale_total",
    "error_code",
    "error",
    "tracking_number",
]
# The options of `resend` and the field of BigBuy's shipping address each corrects.
ADDRESS_FIELDS = {
    "first_name": "firstName",
    "last_name": "lastName",
    "street": "address",
    "postcode": "postcode",
    "town": "town",
    "country": "country",
    "phone": "phone",
    "email": "email",
    "company": "companyName",
}

Order = Annotated[str, typer.Argument(metavar="ORDER_ID", help="The Allegro order (checkout form)")]
Limit = Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many")]
Field = Annotated[str | None, typer.Option()]


def _rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**i, "error": (i.get("error") or {}).get("message")} for i in items]


def _show(found: dict[str, Any]) -> None:
    summary = {k: v for k, v in found.items() if k not in ("shipping_address", "lines", "error")}
    error = found.get("error") or {}
    if error:
        summary["refusal"] = f"{error.get('message')} ({found.get('error_code')})"
    fields(summary, title=f"supplier order {found['order_id']}")
    fields(found.get("shipping_address") or {}, title="shipping address")
    table(found.get("lines") or [], ["sku", "quantity", "unit_price"], title="lines")


@app.command("list")
def list_orders(
    ctx: typer.Context,
    state_: Annotated[
        str | None,
        typer.Option(
            "--state", help="new, sent, shipped, loss, waiting_wallet, bad_address, failed, ..."
        ),
    ] = None,
    limit: Limit = 100,
    as_json: JsonFlag = False,
) -> None:
    """Supplier orders, oldest first; a refused one with BigBuy's words and code."""
    with state(ctx).api(CONNECTOR) as api:
        page = api.get("/supplier-orders", limit=limit, **({"state": state_} if state_ else {}))
    emit(page, as_json, lambda: table(_rows(page["items"]), ORDER_COLUMNS))


@app.command()
def show(ctx: typer.Context, order: Order, as_json: JsonFlag = False) -> None:
    """One supplier order: its state, BigBuy's refusal, the address it is sent to, its lines."""
    with state(ctx).api(CONNECTOR) as api:
        found = api.get(f"/supplier-orders/{order}")
    emit(found, as_json, lambda: _show(found))


@app.command()
def resend(
    ctx: typer.Context,
    order: Order,
    first_name: Field = None,
    last_name: Field = None,
    street: Annotated[str | None, typer.Option(help="Street and number, <= 70 characters")] = None,
    postcode: Field = None,
    town: Field = None,
    country: Annotated[str | None, typer.Option(help="ISO code, e.g. PL")] = None,
    phone: Field = None,
    email: Field = None,
    company: Field = None,
    accept_loss: Annotated[
        bool, typer.Option("--accept-loss", help="Send though BigBuy's cost exceeds the sale")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Send a refused or held order again: as it is, with the address fields given corrected
    (checked as BigBuy checks them before anything is sent), or accepting a loss. An order is
    looked up at BigBuy by its reference first: it is never created twice."""
    given = {
        "first_name": first_name,
        "last_name": last_name,
        "street": street,
        "postcode": postcode,
        "town": town,
        "country": country,
        "phone": phone,
        "email": email,
        "company": company,
    }
    address = {ADDRESS_FIELDS[k]: v for k, v in given.items() if v is not None}
    if "country" in address:
        address["country"] = address["country"].upper()
    if any(not v.strip() for v in address.values()):
        raise Failure(USAGE, "an address field given must not be empty")
    body: dict[str, Any] = {"accept_loss": accept_loss}
    if address:
        body["address"] = address
    with state(ctx).api(CONNECTOR) as api:
        found = api.post(f"/supplier-orders/{order}/resend", body)
    emit(found, as_json, lambda: out.print(f"supplier order {order}: {found['state']}"))


@app.command()
def wallet(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """BigBuy's wallet balance against the orders waiting for it, and orders by state."""
    with state(ctx).api(CONNECTOR) as api:
        found = api.get("/wallet")

    def human() -> None:
        balance = found["balance"]
        out.print(
            f"balance {balance if balance is not None else 'unknown (BigBuy not reachable now)'}"
            f" {found['currency']}; {found['waiting_orders']} order(s) waiting for"
            f" {found['waiting_total']} {found['currency']}"
            + (
                f"; top up by at least {found['shortfall']} {found['currency']}"
                if found.get("shortfall") not in (None, "0", "0.00")
                else ""
            )
        )
        rows = [{"state": k, **v} for k, v in (found.get("by_state") or {}).items()]
        table(rows, ["state", "orders", "cost_total"], title="orders by state")

    emit(found, as_json, human)
