"""`mci offers`: an account's readiness, publication progress, offers and their reasons,
retries, dry runs, pause and resume, refused images, drift and reconcile (offers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mci_cli.catalog import read_json
from mci_cli.errors import USAGE, Failure
from mci_cli.output import cell, emit, fields, out, table
from mci_cli.state import JsonFlag, state

app = typer.Typer(
    help="Publication on Allegro: readiness, progress, offers, retries, drift (offers).",
    no_args_is_help=True,
)
Account = Annotated[str, typer.Argument(metavar="ACCOUNT")]


def _show_readiness(found: dict[str, Any]) -> None:
    fields(
        {
            "readiness": found.get("readiness"),
            "paused": found.get("paused"),
            "checked_at": found.get("checked_at"),
        },
        title="readiness",
    )
    table(
        [
            {**item, "id or fix": item.get("id") or item.get("fix") or item.get("message")}
            for item in found.get("items") or []
        ],
        ["item", "status", "id or fix"],
        title="items",
    )


@app.command("readiness")
def readiness(
    ctx: typer.Context,
    account: Account,
    check: Annotated[bool, typer.Option("--check", help="Check on Allegro now")] = False,
    create_missing: Annotated[
        bool, typer.Option("--create-missing", help="Create what is missing where it can be")
    ] = False,
    producer: Annotated[
        Path | None,
        typer.Option(
            "--producer", exists=True, dir_okay=False, help="The responsible producer, JSON"
        ),
    ] = None,
    safety_text: Annotated[
        str | None, typer.Option("--safety-text", help="The product safety information")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The account's readiness items; with --check (or data to store) checked on Allegro now."""
    body: dict[str, Any] = {"create_missing": create_missing}
    if producer is not None:
        document = read_json(producer)
        if not isinstance(document, dict):
            raise Failure(USAGE, f"{producer}: a responsible producer is a JSON object")
        body["responsible_producer"] = document
    if safety_text is not None:
        body["safety_information"] = safety_text
    with state(ctx).api("offers") as api:
        if check or create_missing or producer is not None or safety_text is not None:
            found = api.post(f"/accounts/{account}/readiness", body)
        else:
            found = api.get(f"/accounts/{account}/readiness")
    emit(found, as_json, lambda: _show_readiness(found))


@app.command("progress")
def progress(ctx: typer.Context, account: Account, as_json: JsonFlag = False) -> None:
    """Offers by state and by marketplace, the current rate and the ETA."""
    with state(ctx).api("offers") as api:
        found = api.get(f"/accounts/{account}/publication/progress")

    def human() -> None:
        fields(
            {k: v for k, v in found.items() if k not in ("by_state", "by_marketplace")},
            title="progress",
        )
        table(
            [{"state": k, "offers": v} for k, v in found["by_state"].items()],
            ["state", "offers"],
        )
        table(
            [
                {"marketplace": mp, "state": state_, "offers": n}
                for mp, counts in found["by_marketplace"].items()
                for state_, n in counts.items()
            ],
            ["marketplace", "state", "offers"],
            title="by marketplace",
        )

    emit(found, as_json, human)


@app.command("list")
def list_offers(
    ctx: typer.Context,
    account: Account,
    state_: Annotated[str | None, typer.Option("--state", help="Only offers in this state")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every offer of the account (all pages), with its state and reason."""
    with state(ctx).api("offers") as api:
        found = api.get_all(f"/accounts/{account}/offers", **({"state": state_} if state_ else {}))
    rows = [
        {**o, "reason": (o.get("reason") or {}).get("message") or cell(o.get("waiting_for"))}
        for o in found
    ]
    emit(found, as_json, lambda: table(rows, ["sku", "state", "offer_id", "reason"]))


@app.command("show")
def show(ctx: typer.Context, account: Account, sku: str, as_json: JsonFlag = False) -> None:
    """One offer: its reason in plain words, Allegro's errors and its history."""
    with state(ctx).api("offers") as api:
        found = api.get(f"/accounts/{account}/offers/{sku}")

    def human() -> None:
        fields({k: v for k, v in found.items() if k not in ("history", "reason")}, title=sku)
        reason = found.get("reason") or {}
        if reason:
            out.print(f"reason: {reason.get('message')}")
            for error in reason.get("allegro_errors") or []:
                out.print(f"  Allegro {error.get('code')}: {error.get('message')}")
        table(found.get("history") or [], ["at", "from_state", "to_state", "cause"], "history")

    emit(found, as_json, human)


@app.command("retry")
def retry(
    ctx: typer.Context,
    account: Account,
    sku: Annotated[list[str] | None, typer.Option("--sku", help="Only these SKUs")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check failed and not-listable offers again."""
    body: dict[str, Any] = {"skus": sku} if sku else {}
    with state(ctx).api("offers") as api:
        found = api.post(f"/accounts/{account}/offers/retry", body)
    emit(found, as_json, lambda: out.print(f"retried {found['retried']} offer(s)"))


@app.command("refused-images")
def refused_images(ctx: typer.Context, account: Account, as_json: JsonFlag = False) -> None:
    """Supplier images Allegro refused to upload (all pages): its answer, when, and from when
    offers try the URL again (until then they leave it out)."""
    with state(ctx).api("offers") as api:
        found = api.get_all(f"/accounts/{account}/images/refused")
    emit(
        found,
        as_json,
        lambda: table(found, ["url", "reason", "refused_at", "uploaded_again_from"], "refused"),
    )


@app.command("forget-refused-images")
def forget_refused_images(
    ctx: typer.Context,
    account: Account,
    url: Annotated[list[str] | None, typer.Option("--url", help="Only these URLs")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The supplier fixed these images (every refused one without --url): upload them again
    now, and give the offers that left one out their gallery again."""
    body: dict[str, Any] = {"urls": url} if url else {}
    with state(ctx).api("offers") as api:
        found = api.post(f"/accounts/{account}/images/refused/forget", body)
    emit(
        found,
        as_json,
        lambda: out.print(
            f"forgot {found['forgotten']} refused image(s);"
            f" {len(found['offers_to_edit'])} offer(s) get their gallery again"
        ),
    )


@app.command("dry-run")
def dry_run(
    ctx: typer.Context,
    account: Account,
    check_products: Annotated[
        bool, typer.Option("--check-products", help="Look the EANs up in Allegro's catalogue")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """What a publication would do now and which checks would fail (nothing is sent)."""
    with state(ctx).api("offers") as api:
        found = api.post(
            f"/accounts/{account}/publication/dry-run",
            check_products=str(check_products).lower(),
        )

    def human() -> None:
        table(
            [{"action": k, "offers": v["count"]} for k, v in found["would"].items()],
            ["action", "offers"],
            title=f"would ({found['readiness']})",
        )
        table(
            [
                {"sku": f["sku"], "why": cell(f.get("problems") or f.get("waiting_for"))}
                for f in found["failing_checks"]
            ],
            ["sku", "why"],
            title="failing checks",
        )

    emit(found, as_json, human)


@app.command("pause")
def pause(ctx: typer.Context, account: Account, as_json: JsonFlag = False) -> None:
    """Send nothing more for the account until it is resumed."""
    with state(ctx).api("offers") as api:
        found = api.post(f"/accounts/{account}/publication/pause")
    emit(found, as_json, lambda: out.print(f"{account}: paused"))


@app.command("resume")
def resume(ctx: typer.Context, account: Account, as_json: JsonFlag = False) -> None:
    """Resume sending for the account."""
    with state(ctx).api("offers") as api:
        found = api.post(f"/accounts/{account}/publication/resume")
    emit(found, as_json, lambda: out.print(f"{account}: resumed"))


@app.command("drift")
def drift(
    ctx: typer.Context,
    account: Account,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind of difference")] = None,
    sku: Annotated[str | None, typer.Option("--sku", help="Only this SKU")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Newest N")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Differences between Allegro's offers and ours: counts by kind, the offer-event cursor,
    the last reconcile and the newest differences (field, ours, Allegro's, repair)."""
    filters = {k: v for k, v in (("kind", kind), ("sku", sku)) if v is not None}
    with state(ctx).api("offers") as api:
        summary = api.get(f"/accounts/{account}/drift/summary")
        found = api.get(f"/accounts/{account}/drift", limit=limit, **filters)
    document = {**summary, "items": found["items"], "next": found["next"]}

    def human() -> None:
        table(
            [{"kind": k, "found": n} for k, n in summary["by_kind"].items()],
            ["kind", "found"],
            title=f"drift of {account}",
        )
        events = summary.get("events") or {}
        fields(
            {
                "last event read": events.get("last_event_id"),
                "events read": events.get("events_read", 0),
                "read at": events.get("read_at"),
                "lag seconds": events.get("lag_seconds"),
                "events lost at": events.get("lost_at"),
                "offers waiting for a recheck": events.get("rechecks_waiting", 0),
            },
            title="offer events",
        )
        last = summary.get("last_reconciliation") or {}
        if last:
            counts = last.get("counts") or {}
            out.print(
                f"last reconcile {last['id']} at {last['finished_at']}:"
                f" {counts.get('differences', 0)} difference(s)"
            )
        table(
            [
                {
                    **item,
                    "ours": cell(item.get("ours")),
                    "allegro": cell(item.get("allegro")),
                    "repair": item.get("repair") or "reported",
                }
                for item in found["items"]
            ],
            ["seen_at", "sku", "offer_id", "kind", "ours", "allegro", "repair", "source"],
            title="differences, newest first",
        )

    emit(document, as_json, human)


@app.command("reconcile")
def reconcile(ctx: typer.Context, account: Account, as_json: JsonFlag = False) -> None:
    """Compare all the account's offers on Allegro with ours now; repair or report each
    difference."""
    with state(ctx).api("offers") as api:
        found = api.post(f"/accounts/{account}/reconcile")

    def human() -> None:
        fields(
            {
                "reconcile": found["reconciliation_id"],
                "offers on Allegro": found["allegro_offers"],
                "our offers": found["our_offers"],
                "differences": found["differences"],
                "reported only": found["reported_only"],
            },
            title=account,
        )
        table([{"kind": k, "found": n} for k, n in found["by_kind"].items()], ["kind", "found"])
        table(
            [{"repair": k, "offers": n} for k, n in found["repairs"].items()],
            ["repair", "offers"],
        )

    emit(found, as_json, human)
