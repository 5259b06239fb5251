"""`mci keys`: operator API keys in auth (admin)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from mci_cli.output import emit, err, fields, out, table
from mci_cli.state import JsonFlag, state

app = typer.Typer(help="Operator API keys (auth, admin only).", no_args_is_help=True)


class Role(StrEnum):
    viewer = "viewer"
    operator = "operator"
    admin = "admin"


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who or what the key is for")],
    role: Annotated[Role, typer.Option("--role", help="What the key may do")],
    as_json: JsonFlag = False,
) -> None:
    """Create a key; its secret is printed once, here, and never again."""
    with state(ctx).api("auth") as api:
        created = api.post("/api-keys", {"name": name, "role": role.value})

    def human() -> None:
        fields({k: v for k, v in created.items() if k != "api_key"})
        err.print("The key (shown once; store it now):", highlight=False)
        out.print(created["api_key"], markup=False, highlight=False)

    emit(created, as_json, human)


@app.command("list")
def list_keys(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every key (no secrets)."""
    with state(ctx).api("auth") as api:
        found = api.get_all("/api-keys")
    columns = list(found[0].keys()) if found else ["id", "name", "role"]
    emit(found, as_json, lambda: table(found, columns))


@app.command()
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke a key (services stop accepting it within a minute)."""
    with state(ctx).api("auth") as api:
        api.delete(f"/api-keys/{key_id}")
    emit({"revoked": key_id}, as_json, lambda: out.print(f"revoked {key_id}"))
