"""The offers service's operator endpoints: parse, call a handler, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from offers import handlers, publisher
from offers.deps import Deps
from offers.domain import commands as c
from offers.domain import states
from offers.domain.listing import CURRENCIES
from shared.accounts import KnownAccount
from shared.errors import Invalid
from shared.http import error_responses
from shared.pagination import Page, PageQuery
from shared.security import Operator, Viewer

# Every route is under an account: 404 `unknown_account` for one auth does not know, 503 if
# auth cannot be asked.
router = APIRouter(
    prefix="/accounts/{account_id}", tags=["offers"], responses=error_responses(404, 503)
)

Sku = Annotated[str, Path(min_length=1, max_length=100)]
# The progress's rate is measured over this window.
RATE_WINDOW_SECONDS = 300.0


# --- readiness -----------------------------------------------------------------------------------


class ProducerAddress(BaseModel):
    countryCode: str = Field(min_length=2, max_length=2)
    street: str = Field(min_length=1, max_length=200)
    postalCode: str = Field(min_length=1, max_length=20)
    city: str = Field(min_length=1, max_length=100)


class ProducerContact(BaseModel):
    email: str | None = Field(default=None, max_length=50)
    phoneNumber: str | None = Field(default=None, max_length=30)
    formUrl: str | None = Field(default=None, max_length=80)


class ProducerData(BaseModel):
    tradeName: str = Field(min_length=1, max_length=200)
    address: ProducerAddress
    contact: ProducerContact


class ResponsibleProducer(BaseModel):
    """The supplier's compliance data, in Allegro's responsible-producer shape."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=50)
    producerData: ProducerData


class ReadinessCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    create_missing: bool = Field(
        default=False, description="Create on Allegro what is missing where it can be"
    )
    responsible_producer: ResponsibleProducer | None = None
    safety_information: str | None = Field(default=None, min_length=1, max_length=5000)
    marketplaces: list[str] | None = Field(
        default=None, min_length=1, description="The marketplaces offers are priced for"
    )


@router.get("/readiness")
async def get_readiness(_: Viewer, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    """Each item (return policy, implied warranty, shipping price list, responsible producer,
    safety information) with the id found or how to fix it."""
    return await deps.units.read(handlers.readiness, c.GetAccount(account_id))


@router.post("/readiness", responses=error_responses(502))
async def check_readiness(
    _: Operator, account_id: KnownAccount, body: ReadinessCheck, deps: Deps
) -> dict[str, Any]:
    """Check the account on Allegro now; with `create_missing`, create the responsible
    producer from the data given."""
    unknown = [m for m in body.marketplaces or [] if m not in CURRENCIES]
    if unknown:
        raise Invalid(
            "unknown marketplaces",
            code="invalid_marketplace",
            details=[{"field": "marketplaces", "reason": f"unknown {m}"} for m in unknown],
        )
    producer = (
        None
        if body.responsible_producer is None
        else body.responsible_producer.model_dump(exclude_none=True)
    )
    await deps.units.handle(
        handlers.save_readiness_input,
        c.SaveReadinessInput(account_id, producer, body.safety_information, body.marketplaces),
    )
    return await publisher.check_readiness(deps, account_id, body.create_missing)


# --- publication ---------------------------------------------------------------------------------


@router.get("/publication/progress")
async def get_progress(_: Viewer, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    """Counts by state and by marketplace, the rate of the last five minutes, the ETA."""
    allegro = deps.settings.allegro_settings()
    creates = allegro.seller_limits.get("product-offers:POST", 0.0)
    query = c.GetProgress(
        account_id, RATE_WINDOW_SECONDS, creates, allegro.client_requests_per_minute
    )
    return await deps.units.read(handlers.progress, query)


@router.post("/publication/dry-run", responses=error_responses(502))
async def dry_run(
    _: Operator,
    account_id: KnownAccount,
    deps: Deps,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    check_products: Annotated[
        bool, Query(description="Look each offer to create up in Allegro's catalogue by EAN")
    ] = False,
) -> dict[str, Any]:
    """What would be created, updated, ended or reactivated now, and which checks would fail;
    nothing is written to Allegro."""
    return await publisher.dry_run(deps, account_id, limit, check_products)


@router.post("/publication/pause")
async def pause(who: Operator, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    """Nothing more is sent for the account until it is resumed (writes under way finish)."""
    return await deps.units.handle(handlers.set_paused, c.SetPaused(account_id, True, who.subject))


@router.post("/publication/resume")
async def resume(who: Operator, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    return await deps.units.handle(handlers.set_paused, c.SetPaused(account_id, False, who.subject))


# --- offers ------------------------------------------------------------------------------------


@router.get("/offers")
async def list_offers(
    _: Viewer,
    account_id: KnownAccount,
    page: PageQuery,
    deps: Deps,
    state: Annotated[str | None, Query(max_length=20, description=", ".join(states.STATES))] = None,
) -> Page[dict[str, Any]]:
    """By SKU; each with its state, what it waits for, the reason and Allegro's offer id."""
    return await deps.units.read(handlers.offers, c.ListOffers(account_id, page, state))


class Retry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    states: list[str] = Field(default_factory=lambda: list(states.RETRYABLE), min_length=1)
    skus: list[str] | None = Field(default=None, min_length=1, max_length=10_000)


@router.post("/offers/retry")
async def retry(who: Operator, account_id: KnownAccount, body: Retry, deps: Deps) -> dict[str, Any]:
    """Check failed and not-listable offers again (all, or the SKUs given)."""
    return await deps.units.handle(
        handlers.retry_offers,
        c.RetryOffers(
            account_id,
            tuple(body.states),
            None if body.skus is None else tuple(body.skus),
            who.subject,
        ),
    )


class SyncRetry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skus: list[str] | None = Field(default=None, min_length=1, max_length=10_000)


@router.post("/offers/sync/retry")
async def retry_sync(
    _: Operator, account_id: KnownAccount, body: SyncRetry, deps: Deps
) -> dict[str, Any]:
    """Send again the price and stock changes whose failure was surfaced (all, or the SKUs
    given)."""
    retried = await deps.units.handle(
        handlers.retry_sync,
        c.RetrySync(account_id, None if body.skus is None else tuple(body.skus)),
    )
    return {"retried": retried}


# --- images Allegro refused --------------------------------------------------------------------


@router.get("/images/refused")
async def list_refused_images(
    _: Viewer, account_id: KnownAccount, page: PageQuery, deps: Deps
) -> Page[dict[str, Any]]:
    """Supplier image URLs whose upload Allegro refused, by URL: Allegro's answer, when, and
    from when offers will try the URL again (until then they leave it out)."""
    return await deps.units.read(
        handlers.image_refusals,
        c.ListImageRefusals(account_id, deps.settings.image_refusal_retry_seconds, page),
    )


class ForgetRefusals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[Annotated[str, Field(min_length=1, max_length=2048)]] | None = Field(
        default=None, min_length=1, max_length=10_000
    )


@router.post("/images/refused/forget")
async def forget_refused_images(
    who: Operator, account_id: KnownAccount, body: ForgetRefusals, deps: Deps
) -> dict[str, Any]:
    """The supplier fixed these images (all refused ones if no URL is given): they are uploaded
    again at once, and the offers on Allegro that left one out get their gallery again."""
    return await deps.units.handle(
        handlers.forget_image_refusals,
        c.ForgetImageRefusals(
            account_id, None if body.urls is None else tuple(body.urls), who.subject
        ),
    )


@router.get("/offers/{sku}")
async def get_offer(_: Viewer, account_id: KnownAccount, sku: Sku, deps: Deps) -> dict[str, Any]:
    """The offer, its transitions with their causes, the reason in plain words and Allegro's
    errors."""
    return await deps.units.read(handlers.offer, c.GetOffer(account_id, sku))
