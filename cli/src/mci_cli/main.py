"""`mci`: the operator command line over the services' HTTP APIs.

Human tables by default, `--json` prints the raw JSON. Exit codes: 0 ok, 1 the server said no
(its error code and message on one line), 2 a usage error, 3 a service cannot be reached.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from mci_cli import accounts, catalog, dlq, keys, offers, orders, pricing, supplier
from mci_cli.config import load
from mci_cli.errors import REFUSED, UNREACHABLE, USAGE, Failure
from mci_cli.output import err, table
from mci_cli.state import State

app = typer.Typer(
    name="mci",
    help="Operate mci: Allegro accounts, the supplier catalogue, pricing, offers, orders,"
    " dead letters, API keys.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(accounts.app, name="accounts")
app.add_typer(catalog.app, name="catalog")
app.add_typer(pricing.app, name="pricing")
app.add_typer(offers.app, name="offers")
app.add_typer(orders.app, name="orders")
app.add_typer(supplier.app, name="supplier")
app.add_typer(dlq.app, name="dlq")
app.add_typer(keys.app, name="keys")


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A TOML file with api_key and <service>_url (default ~/.config/mci/config.toml)",
            show_default=False,
        ),
    ] = None,
) -> None:
    ctx.obj = State(load(config))


@app.command("config")
def show_config(ctx: typer.Context) -> None:
    """Where each service is and where the key comes from (never the key itself)."""
    state: State = ctx.obj
    rows = [
        {"service": name, "url": url, "from": state.config.origins.get(name, "-")}
        for name, url in state.config.urls.items()
    ]
    rows.append({"service": "api key", "url": "-", "from": state.config.key_source})
    table(rows, ["service", "url", "from"])


def run() -> None:
    """The console script: one line and an exit code for every failure, never a traceback."""
    try:
        app()
    except Failure as failure:
        err.print(f"mci: {failure.message}", markup=False, highlight=False)
        sys.exit(failure.exit_code)
    except KeyboardInterrupt:
        err.print("mci: interrupted", markup=False, highlight=False)
        sys.exit(130)
    except OSError as exc:
        err.print(f"mci: {exc}", markup=False, highlight=False)
        sys.exit(UNREACHABLE if isinstance(exc, ConnectionError) else USAGE)
    except Exception as exc:
        # An answer of a shape this mci does not know (another version?), or a bug of ours.
        if os.environ.get("MCI_DEBUG"):
            raise
        err.print(
            f"mci: unexpected error ({type(exc).__name__}: {exc}); MCI_DEBUG=1 shows where",
            markup=False,
            highlight=False,
        )
        sys.exit(REFUSED)
