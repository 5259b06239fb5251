"""`mci accounts`: Allegro accounts in auth (list, add, show, connect, reset, status)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from mci_cli.output import emit, fields, out, table
from mci_cli.state import JsonFlag, state

app = typer.Typer(help="Allegro accounts (auth).", no_args_is_help=True)

COLUMNS = ["id", "alias", "base_marketplace", "status", "allegro_login", "connected_at"]


class Flow(StrEnum):
    device = "device"
    login = "login"


def _flat(account: dict[str, Any]) -> dict[str, Any]:
    """The account with its last connection attempt's fields alongside."""
    flat = {k: v for k, v in account.items() if k != "connection"}
    for key, value in (account.get("connection") or {}).items():
        flat[f"connection.{key}"] = value
    return flat


@app.command("list")
def list_accounts(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every account."""
    with state(ctx).api("auth") as api:
        accounts = api.get_all("/accounts")
    emit(accounts, as_json, lambda: table(accounts, COLUMNS))


@app.command()
def status(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every account's connection: status, why, token expiry, the last connection attempt."""
    with state(ctx).api("auth") as api:
        accounts = api.get_all("/accounts")
    rows = [
        {
            "id": a["id"],
            "alias": a["alias"],
            "status": a["status"],
            "reason": a.get("status_reason"),
            "access_expires_at": a.get("access_expires_at"),
            "last_attempt": None
            if not a.get("connection")
            else f"{a['connection']['flow']} {a['connection']['status']}",
        }
        for a in accounts
    ]
    emit(
        accounts,
        as_json,
        lambda: table(
            rows, ["id", "alias", "status", "reason", "access_expires_at", "last_attempt"]
        ),
    )


@app.command()
def add(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="A name for the shop, e.g. shop-pl-1")],
    marketplace: Annotated[
        str, typer.Option("--marketplace", help="The account's base marketplace")
    ] = "allegro-pl",
    as_json: JsonFlag = False,
) -> None:
    """Create an account (then `mci accounts connect ID`)."""
    with state(ctx).api("auth") as api:
        account = api.post("/accounts", {"alias": alias, "base_marketplace": marketplace})
    emit(account, as_json, lambda: fields(_flat(account)))


@app.command()
def show(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
) -> None:
    """One account and its last connection attempt."""
    with state(ctx).api("auth") as api:
        account = api.get(f"/accounts/{account_id}")
    emit(account, as_json, lambda: fields(_flat(account)))


@app.command()
def connect(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(metavar="ID")],
    flow: Annotated[
        Flow,
        typer.Option(
            "--flow",
            help="device: a code the seller types at Allegro; login: a URL the seller opens",
        ),
    ] = Flow.device,
    redirect_uri: Annotated[
        str | None, typer.Option("--redirect-uri", help="login flow: where Allegro returns")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Start connecting the account to Allegro and print what the seller must do."""
    with state(ctx).api("auth") as api:
        if flow is Flow.device:
            started = api.post(f"/accounts/{account_id}/connect/device")
        else:
            body = {"redirect_uri": redirect_uri} if redirect_uri else None
            started = api.post(f"/accounts/{account_id}/connect/authorization-code", body)

    def human() -> None:
        if flow is Flow.device:
            where = started.get("verification_uri_complete") or started.get("verification_uri")
            out.print(f"Open {where}")
            out.print(
                f"and enter the code {started['user_code']} (expires {started['expires_at']})."
            )
            out.print(f"Then: mci accounts show {account_id}")
        else:
            out.print(f"Open {started['authorize_url']}")
            out.print(f"and log in as the seller (expires {started['expires_at']}).")

    emit(started, as_json, human)


@app.command()
def reset(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
) -> None:
    """Forget the account's Allegro tokens (connect it again afterwards)."""
    with state(ctx).api("auth") as api:
        account = api.post(f"/accounts/{account_id}/reset")
    emit(account, as_json, lambda: fields(_flat(account)))
