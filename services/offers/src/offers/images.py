"""An offer's images on Allegro: the supplier's URLs (gallery and description) uploaded
(`POST /sale/images`) once per account and their locations reused (table `offer_images`), the
URLs Allegro refused remembered (table `refused_images`); the pure rules are in
`domain/images.py`.

Uploads of one URL in this process run once: offers of one claim round sharing an image wait
for the same upload (`OffersDeps.image_uploads`); later rounds find it in the table.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from offers import allegro, handlers
from offers.deps import OffersDeps
from offers.domain import commands as c
from offers.domain.images import Gallery, reusable, still_refused
from shared.allegro.errors import AllegroError, AllegroUnavailable, NotSentInTime, RateLimited


def permanent(exc: BaseException) -> bool:
    """An upload Allegro refused for the image itself (a URL it cannot fetch, a file it does
    not take): trying again gives the same answer. 401/403 (the account), 409, 429 and 5xx
    (Allegro's state or rate) go the step's usual way."""
    return (
        isinstance(exc, AllegroError)
        and not isinstance(exc, RateLimited | NotSentInTime | AllegroUnavailable)
        and 400 <= exc.status < 500
        and exc.status not in (401, 403, 409, 429)
    )


async def _upload_once(
    deps: OffersDeps, account_id: str, source: str, send_by: float | None
) -> allegro.Upload:
    key = (account_id, source)
    task = deps.image_uploads.get(key)
    if task is None:
        upload = allegro.upload_image(deps.allegro, account_id, source, send_by)
        task = asyncio.ensure_future(upload)
        deps.image_uploads[key] = task
    return await asyncio.shield(task)


async def gallery_for(
    deps: OffersDeps,
    account_id: str,
    sources: list[str],
    held: dict[str, dict[str, Any]] | None = None,
    send_by: float | None = None,
    in_description: list[str] | None = None,
) -> Gallery:
    """The Allegro locations of `sources` (the gallery, in order) and of `in_description` (the
    description's images): held uploads reused, the others uploaded (and recorded) now. `held`:
    the round's uploads and refusals of the account, read once for its offers and updated here.
    A refused upload leaves its image out (`Gallery.refused`) and is remembered, so the next
    offers leave it out without uploading it (for `image_refusal_retry_seconds`); any other
    failure is raised after the successful uploads are recorded, so a retry reuses them."""
    in_description = in_description or []
    wanted = list(dict.fromkeys([*sources, *in_description]))
    if not wanted:
        return Gallery([], [])
    if held is None:
        query = c.GetImages(account_id, tuple(wanted))
        held = await deps.units.read(handlers.cached_images, query)
    now = datetime.now(UTC)
    retry_after = timedelta(seconds=deps.settings.image_refusal_retry_seconds)
    refused: dict[str, str] = {}
    missing: list[str] = []
    for source in wanted:
        found = held.get(source)
        if found is not None and "refused" in found:
            if still_refused(found["refused_at"], now, retry_after):
                refused[source] = found["refused"]
                continue
        elif found is not None and reusable(found["expires_at"], now):
            continue
        missing.append(source)
    uploaded: list[tuple[str, str, Any]] = []
    newly_refused: list[tuple[str, str, Any]] = []
    failure: BaseException | None = None
    try:
        results = await asyncio.gather(
            *(_upload_once(deps, account_id, s, send_by) for s in missing),
            return_exceptions=True,
        )
        for source, result in zip(missing, results, strict=True):
            if isinstance(result, allegro.Upload):
                uploaded.append((source, result.location, result.expires_at))
            elif permanent(result):
                refused[source] = f"Allegro answered {result}"[:300]
                newly_refused.append((source, refused[source], now))
            else:
                failure = failure or result
        if uploaded:
            saved = c.SaveImages(account_id, tuple(uploaded))
            await deps.units.handle(handlers.save_images, saved)
            for source, location, expires_at in uploaded:
                held[source] = {"location": location, "expires_at": expires_at}
        if newly_refused:
            remembered = c.SaveImageRefusals(account_id, tuple(newly_refused))
            await deps.units.handle(handlers.save_image_refusals, remembered)
            for source, reason, at in newly_refused:
                held[source] = {"refused": reason, "refused_at": at}
    finally:
        for source in missing:
            # Recorded (or failed): later offers read the table or `held`, not the upload.
            deps.image_uploads.pop((account_id, source), None)
    if failure is not None:
        raise failure
    hosted = {
        s: held[s]["location"] for s in wanted if s not in refused and "location" in held.get(s, {})
    }
    locations = [hosted[s] for s in sources if s in hosted]
    return Gallery(list(sources), locations, refused, list(in_description), hosted)
