"""The price and stock sync (a background loop of the worker role): live offers whose wanted
price or stock differs from what Allegro was sent go out as Allegro's batch commands.

Each round plans (one transaction: out-of-sync offers, locked with SKIP LOCKED, grouped into
commands of at most 1,000 offers, each command stored under a UUID made here and its offers
marked as in it, before anything is sent), then claims stored commands with a lease and, for
each, PUTs it (a 409 means Allegro has that id already: a send before a crash), reads it until
it completes, reads its tasks and records every offer's result in one transaction, only while
its claim holds. An offer in a command is in no other; the value it wants is read again when
the command is done, so a change that arrived meanwhile goes next, and only the newest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from offers import allegro, handlers, metrics, wakeup
from offers.deps import OffersDeps
from offers.domain import commands as c
from offers.domain import sync
from shared.allegro.errors import AllegroError, AllegroUnavailable, RateLimited
from shared.allegro.tokens import AccountUnavailable
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)


async def sync_offers(runtime: ServiceRuntime) -> None:
    """Plan, send and poll batch commands until the service stops."""
    deps = runtime.dependencies
    assert isinstance(deps, OffersDeps)
    settings = deps.settings
    running: set[asyncio.Task[None]] = set()
    woken = asyncio.Event()
    with wakeup.listening(woken):
        while not runtime.stopping.is_set():
            woken.clear()
            worked = False
            try:
                planned = await deps.units.handle(
                    handlers.plan_sync,
                    c.PlanSync(settings.sync_plan_limit, settings.sync_offers_per_command),
                )
                free = max(0, settings.sync_concurrency - len(running))
                claimed = (
                    await deps.units.handle(
                        handlers.claim_commands, c.ClaimCommands(free, settings.sync_lease_seconds)
                    )
                    if free
                    else []
                )
                for command in claimed:
                    task = asyncio.create_task(_advance(deps, command))
                    running.add(task)
                    task.add_done_callback(running.discard)
                worked = bool(planned or claimed)
            except Exception:  # a database hiccup must not end the loop
                log.exception("sync round failed")
            if worked:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    _first(runtime.stopping, woken), timeout=settings.sync_poll_interval_seconds
                )
            if woken.is_set() and not runtime.stopping.is_set():
                await asyncio.sleep(settings.sync_gather_seconds)
        for task in list(running):
            task.cancel()


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def _advance(deps: OffersDeps, command: c.ClaimedCommand) -> None:
    try:
        await advance(deps, command)
    except Exception:
        # The claim runs out and the command is taken up again from its stored status.
        log.exception("command %s (%s) failed", command.command_id, command.kind)


def _later(
    deps: OffersDeps, command: c.ClaimedCommand, status: str, exc: Exception | None = None
) -> c.CommandLater:
    wait = sync.backoff(
        command.attempts, deps.settings.sync_backoff_seconds, deps.settings.sync_backoff_max_seconds
    )
    if exc is not None:
        log.info("command %s: later (%s): %s", command.command_id, status, exc)
    return c.CommandLater(command, status, wait)


async def _publication_already_there(
    deps: OffersDeps, command: c.ClaimedCommand, tasks: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """An END refused for an offer Allegro has ended already (a sale took its last unit, or an
    END sent before a crash), or an ACTIVATE for one active already, reached what was wanted:
    read each such offer and count its task a success, instead of a failure that would leave
    the offer wanted as it is and surfaced for good."""
    wanted = sync.publication_status(command.value)
    found: list[dict[str, Any]] = []
    for task in tasks:
        offer_id = str((task.get("offer") or {}).get("id"))
        if task.get("status") != "SUCCESS" and wanted is not None:
            try:
                offer = await allegro.product_offer(deps.allegro, command.account_id, offer_id)
            except (AllegroError, AccountUnavailable) as exc:
                log.info("offer %s: its publication not read again: %s", offer_id, exc)
            else:
                status = str((offer.get("publication") or {}).get("status") or "")
                if status in wanted:
                    task = {**task, "status": "SUCCESS", "errors": []}
        found.append(task)
    return found


async def advance(deps: OffersDeps, command: c.ClaimedCommand) -> None:
    """Send the command if Allegro may not have it yet, then read it until it completes (for
    half its lease at most: then it is released and read again later) and record its tasks."""
    settings = deps.settings
    client = deps.allegro
    account_id = command.account_id
    # A failure before the PUT was answered leaves the command to send again (the same id: a
    # PUT that did reach Allegro answers 409 then); after it, to read again.
    status = command.status
    try:
        if status == "new":
            body = sync.command_body(
                command.kind, command.marketplace, command.value, command.offer_ids
            )
            try:
                await allegro.put_command(
                    client, account_id, command.kind, command.command_id, body
                )
            except AllegroError as exc:
                if exc.status != 409:  # 409: Allegro has this id: our send before a crash
                    raise
            metrics.sync_command_offers.labels(command.kind).observe(len(command.offer_ids))
            status = "sent"
            await deps.units.handle(handlers.command_sent, command)
        give_up_at = time.monotonic() + settings.sync_lease_seconds / 2
        while True:
            await asyncio.sleep(settings.sync_command_poll_seconds)
            try:
                report = await allegro.command_report(
                    client, account_id, command.kind, command.command_id
                )
            except AllegroError as exc:
                if exc.status == 404:  # Allegro does not have it: send it again, same id
                    await deps.units.handle(handlers.command_later, _later(deps, command, "new"))
                    return
                raise
            if report.get("completedAt"):
                break
            if time.monotonic() > give_up_at:
                await deps.units.handle(
                    handlers.command_later,
                    c.CommandLater(command, "sent", settings.sync_command_poll_seconds, True),
                )
                return
        tasks = await allegro.command_tasks(client, account_id, command.kind, command.command_id)
        if command.kind == sync.PUBLICATION:
            tasks = await _publication_already_there(deps, command, tasks)
        finished = c.CommandFinished(
            command,
            dict(report.get("taskCount") or {}),
            tasks,
            settings.sync_max_attempts,
            settings.sync_backoff_seconds,
            settings.sync_backoff_max_seconds,
        )
        outcome = "completed"
    except AccountUnavailable as exc:
        await deps.units.handle(
            handlers.account_not_connected, c.AccountNotConnected(account_id, str(exc))
        )
        await deps.units.handle(handlers.command_later, _later(deps, command, status, exc))
        return
    except (RateLimited, AllegroUnavailable) as exc:
        await deps.units.handle(handlers.command_later, _later(deps, command, status, exc))
        return
    except AllegroError as exc:
        if exc.status in (401, 403):
            await deps.units.handle(
                handlers.account_not_connected,
                c.AccountNotConnected(account_id, f"Allegro refused: {exc}"),
            )
            await deps.units.handle(handlers.command_later, _later(deps, command, status, exc))
            return
        # The whole command refused (a 422 on its body): every offer's change fails with it.
        errors = [e.as_dict() for e in exc.errors]
        first = errors[0] if errors else {}
        finished = c.CommandFinished(
            command,
            {},
            [],
            settings.sync_max_attempts,
            settings.sync_backoff_seconds,
            settings.sync_backoff_max_seconds,
            refused={
                "code": str(first.get("code") or f"HTTP_{exc.status}"),
                "message": str(first.get("message") or exc),
                "errors": errors,
            },
        )
        outcome = "refused"
    if await deps.units.handle(handlers.command_finished, finished):
        metrics.sync_commands.labels(command.kind, outcome).inc()
    else:
        log.warning("command %s: the claim ran out before its results", command.command_id)
