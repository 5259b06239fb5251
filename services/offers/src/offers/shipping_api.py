"""Shipping price list routes: parse, build a command, call the use case, return."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from offers import shipping
from offers.deps import Deps
from offers.domain.shipping import (
    ALLEGRO_LIST_LIMIT,
    ChoosePriceList,
    GetShipping,
    Money,
    SaveShipping,
    ShippingConfiguration,
    WeightBand,
)
from offers.settings import Settings
from shared.accounts import KnownAccount
from shared.errors import NotFound
from shared.http import error_responses
from shared.pagination import Page, PageQuery
from shared.security import Operator, Viewer
from shared.service import service_runtime

shipping_router = APIRouter(
    prefix="/accounts/{account_id}/shipping",
    tags=["shipping"],
    responses=error_responses(404, 409, 502, 503),
)


def shipping_settings(request: Request) -> Settings:
    settings = service_runtime(request).settings
    return settings if isinstance(settings, Settings) else Settings()


Config = Annotated[Settings, Depends(shipping_settings)]

# Bounded so that Decimal arithmetic stays exact (28 digits) whatever a client sends.
Amount = Annotated[Decimal, Field(max_digits=15, allow_inf_nan=False)]
Weight = Annotated[Decimal, Field(max_digits=10, allow_inf_nan=False)]
Code = Annotated[str, Field(min_length=1, max_length=100)]


class MoneyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Amount
    currency: str = Field(min_length=3, max_length=3)

    def money(self) -> Money:
        return Money(self.amount, self.currency)


class BandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_kg: Weight = Field(description="Items up to this weight (kg), above the previous band's")
    prices: dict[Code, MoneyIn] = Field(
        description="First-item price per enabled delivery method id, in its currency",
        max_length=100,
    )
    max_quantity_per_package: int = Field(default=1, ge=1, le=999_999)


class ShippingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_methods: list[Code] = Field(max_length=100, description="Enabled method ids")
    bands: list[BandIn] = Field(max_length=ALLEGRO_LIST_LIMIT, description="Ascending max_kg")
    handling_time: str = Field(max_length=10, description="PT0S, PT24H, P2D, ..., P60D")
    destination_sets: list[Code] = Field(max_length=10, description="PL and/or PL-CZ-SK-HU")
    free_delivery: dict[Code, MoneyIn] = Field(
        default_factory=dict,
        max_length=10,
        description="Free delivery from this order amount, per marketplace, in its currency",
    )

    def configuration(self) -> ShippingConfiguration:
        return ShippingConfiguration(
            delivery_methods=tuple(self.delivery_methods),
            bands=tuple(
                WeightBand(
                    b.max_kg,
                    {m: p.money() for m, p in b.prices.items()},
                    b.max_quantity_per_package,
                )
                for b in self.bands
            ),
            handling_time=self.handling_time,
            destination_sets=tuple(self.destination_sets),
            free_delivery={mp: m.money() for mp, m in self.free_delivery.items()},
        )


@shipping_router.get("")
async def get_shipping(_: Viewer, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    """The configuration, its version, the version last applied and the lists recorded."""
    state = await deps.units.read(shipping.shipping_state, GetShipping(account_id))
    if state.stored is None:
        raise NotFound(
            f"account {account_id} has no shipping configuration", code="shipping_not_configured"
        )
    return state.as_dict()


@shipping_router.put("")
async def put_shipping(
    who: Operator, account_id: KnownAccount, body: ShippingIn, deps: Deps, settings: Config
) -> dict[str, Any]:
    """Replace the configuration, checked against Allegro's delivery methods and the account's
    lists (422 with a code per problem); `lists` gives the 250-list arithmetic."""
    command = SaveShipping(account_id, body.configuration(), who.subject)
    return await shipping.configure(
        deps.units, deps.allegro, command, settings.shipping_rates_limit
    )


@shipping_router.get("/delivery-methods")
async def list_delivery_methods(
    _: Viewer, account_id: KnownAccount, page: PageQuery, deps: Deps
) -> Page[dict[str, Any]]:
    """Allegro's delivery methods, each with whether the configuration enables it."""
    return await shipping.delivery_method_page(deps.units, deps.allegro, account_id, page)


@shipping_router.post("/apply")
async def apply_shipping(
    _: Operator, account_id: KnownAccount, deps: Deps, settings: Config
) -> dict[str, Any]:
    """Create the configuration's lists on Allegro once, update them in place afterwards."""
    return await shipping.apply(
        deps.units,
        deps.allegro,
        account_id,
        settings.shipping_rates_limit,
        settings.shipping_apply_lease_seconds,
    )


@shipping_router.get("/readiness")
async def shipping_readiness(_: Viewer, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    """What the account's shipping lacks before offers can be published (empty: ready)."""
    missing = await shipping.readiness(deps.units, deps.allegro, account_id)
    return {"ready": not missing, "missing": [m.as_dict() for m in missing]}


@shipping_router.get("/price-list")
async def price_list(
    _: Viewer,
    account_id: KnownAccount,
    deps: Deps,
    weight_kg: Annotated[Weight | None, Query(description="The product's weight")] = None,
    marketplace: Annotated[list[Code] | None, Query(max_length=10)] = None,
) -> dict[str, Any]:
    """The list an offer of that weight gets for those marketplaces (default allegro-pl)."""
    query = ChoosePriceList(account_id, weight_kg, tuple(marketplace or ["allegro-pl"]))
    choice = await deps.units.read(shipping.choose_price_list, query)
    return choice.as_dict()
