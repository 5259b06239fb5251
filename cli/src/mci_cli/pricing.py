"""`mci pricing`: rule sets, price explanations, simulations and the fee check (pricing)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mci_cli.catalog import read_json
from mci_cli.errors import USAGE, Failure
from mci_cli.output import cell, emit, fields, out, table
from mci_cli.state import JsonFlag, state

app = typer.Typer(help="Pricing rules, explanations, simulations (pricing).", no_args_is_help=True)
rules_app = typer.Typer(help="An account's pricing rule set.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

RulesFile = Annotated[
    Path,
    typer.Option("--file", exists=True, dir_okay=False, help="The rule set, JSON"),
]


def _rules_document(path: Path) -> dict[str, Any]:
    document = read_json(path)
    if not isinstance(document, dict):
        raise Failure(USAGE, f"{path}: a rule set is a JSON object")
    return document


def _rule_rows(rules: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for rule in rules.get("rules") or []:
        rest = {k: v for k, v in rule.items() if k not in ("id", "scope", "value", "marketplace")}
        rows.append(
            {
                "id": rule.get("id"),
                "scope": rule.get("scope"),
                "value": rule.get("value") or rule.get("band"),
                "marketplace": rule.get("marketplace"),
                "terms": ", ".join(f"{k}={cell(v)}" for k, v in rest.items() if k != "band"),
            }
        )
    return rows


def _show_rules(found: dict[str, Any]) -> None:
    rules = found.get("rules") or {}
    header = {k: v for k, v in rules.items() if k != "rules"}
    fields({"version": found.get("version"), **header}, title="rule set")
    table(_rule_rows(rules), ["id", "scope", "value", "marketplace", "terms"], title="rules")
    if found.get("pending_versions"):
        out.print(f"held by the circuit breaker: versions {found['pending_versions']}")


@rules_app.command("show")
def rules_show(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
    as_json: JsonFlag = False,
) -> None:
    """The account's active rule set."""
    with state(ctx).api("pricing") as api:
        found = api.get(f"/accounts/{account}/rules")
    emit(found, as_json, lambda: _show_rules(found))


@rules_app.command("set")
def rules_set(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
    file: RulesFile,
    as_json: JsonFlag = False,
) -> None:
    """Replace the account's rule set (a new version; repricing follows, or a hold)."""
    document = _rules_document(file)
    with state(ctx).api("pricing") as api:
        saved = api.put(f"/accounts/{account}/rules", document)
    emit(saved, as_json, lambda: fields({k: v for k, v in saved.items() if k != "rules"}))


def _step_rows(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "step": step.get("step"),
            "details": ", ".join(f"{k}={cell(v)}" for k, v in step.items() if k != "step"),
        }
        for step in chain
    ]


@app.command()
def explain(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
    sku: Annotated[str, typer.Argument(metavar="SKU")],
    marketplace: Annotated[
        str | None,
        typer.Option("--marketplace", help="e.g. allegro-pl: the chain behind that price"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """A SKU's prices on every marketplace, or on one with the chain that produced it."""
    with state(ctx).api("pricing") as api:
        if marketplace is None:
            found = api.get(f"/accounts/{account}/prices/{sku}")
        else:
            found = api.get(f"/accounts/{account}/prices/{sku}/{marketplace}")

    def human() -> None:
        if marketplace is None:
            rows = [{"marketplace": m, **v} for m, v in found["marketplaces"].items()]
            out.print(f"{sku}: rule version {found['rule_version']}, {found['computed_at']}")
            table(rows, ["marketplace", "amount", "currency", "reason", "rule_id", "floor"])
            return
        head = {k: v for k, v in found.items() if k != "chain"}
        fields(head, title=f"{sku} on {marketplace}")
        table(_step_rows(found.get("chain") or []), ["step", "details"], title="chain")

    emit(found, as_json, human)


@app.command()
def simulate(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
    file: RulesFile,
    sample: Annotated[
        int | None, typer.Option("--sample", min=1, help="Only a stable sample of n products")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """What a draft rule set would change on the selection; nothing is saved or sent."""
    document = _rules_document(file)
    with state(ctx).api("pricing") as api:
        result = api.post(f"/accounts/{account}/simulations", {"rules": document, "sample": sample})

    def human() -> None:
        fields(
            {k: v for k, v in result.items() if k not in ("largest", "distribution")},
            title="simulation",
        )
        if result.get("distribution"):
            rows = [{"change": k, "prices": v} for k, v in result["distribution"].items()]
            table(rows, ["change", "prices"], title="distribution")
        if result.get("largest"):
            columns = list(result["largest"][0].keys())
            table(result["largest"], columns, title="largest moves")

    emit(result, as_json, human)


@app.command("fee-check")
def fee_check(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
    price: Annotated[
        list[str] | None,
        typer.Option("--price", help="A sample price in PLN (repeatable; default 100 and 2500)"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Compare each commission group of the account's fee table with Allegro's fee-preview."""
    body: dict[str, Any] = {"prices": price} if price else {}
    with state(ctx).api("pricing") as api:
        report = api.post(f"/accounts/{account}/fee-table/calibration-check", body)

    def human() -> None:
        rows = [
            {
                "group": g["group"],
                "label": g["label"],
                "status": g["status"],
                "sample": g["sample_category_id"],
                "ours / allegro": ", ".join(
                    f"{s['price']}: {s['ours']} / {s['allegro']}" for s in g["samples"]
                ),
            }
            for g in report["groups"]
        ]
        table(rows, ["group", "label", "status", "sample", "ours / allegro"], title="fee groups")
        disagree = report["summary"]["disagree"]
        out.print("groups that disagree: " + (", ".join(disagree) if disagree else "none"))

    emit(report, as_json, human)
