"""Each account's selection and listing policy (waivers, product cap), and their preview."""

from __future__ import annotations

from typing import Any

from catalog.domain import commands as c
from catalog.domain.items import REASONS
from catalog.domain.selection import Selection
from catalog.repository import AccountRepository
from catalog.sync import preview, resync
from shared.uow import UnitOfWork


async def get_selection(query: c.GetSelection, uow: UnitOfWork) -> dict[str, Any]:
    accounts = uow.repository(AccountRepository)
    selection = await accounts.selection(query.account_id)
    return {
        "account_id": query.account_id,
        "selection": (selection or Selection()).as_dict(),
        "saved": selection is not None,
        "listed": len(await accounts.listed_skus(query.account_id)),
    }


async def _save(uow: UnitOfWork, account_id: str, selection: Selection, by: str) -> dict[str, Any]:
    accounts = uow.repository(AccountRepository)
    await accounts.save_selection(account_id, selection, by)
    emitted = await resync(uow, account_ids=[account_id])
    return {
        "account_id": account_id,
        "selection": selection.as_dict(),
        "emitted_items": emitted,
        "listed": len(await accounts.listed_skus(account_id)),
    }


async def save_selection(command: c.SaveSelection, uow: UnitOfWork) -> dict[str, Any]:
    """CatalogUpdated: full items entering, listed=false leaving."""
    return await _save(uow, command.account_id, command.selection, command.by)


async def patch_selection(command: c.PatchSelection, uow: UnitOfWork) -> dict[str, Any]:
    current = await uow.repository(AccountRepository).selection(command.account_id)
    selection = Selection.from_dict({**(current or Selection()).as_dict(), **command.changes})
    return await _save(uow, command.account_id, selection, command.by)


async def preview_selection(query: c.PreviewSelection, uow: UnitOfWork) -> dict[str, Any]:
    result = await preview(uow, query.account_id, query.selection, query.page)
    return {
        "account_id": query.account_id,
        "selection": query.selection.as_dict(),
        **result.as_dict(),
    }


async def get_listing(query: c.GetListing, uow: UnitOfWork) -> dict[str, Any]:
    """What blocks publication for this account: every reason, and those it waives."""
    accounts = uow.repository(AccountRepository)
    waived = (await accounts.waived_reasons([query.account_id])).get(query.account_id, frozenset())
    policy = await accounts.cap_policy(query.account_id)
    return {
        "account_id": query.account_id,
        "reasons": REASONS,
        "not_blocking": sorted(waived),
        "product_cap": policy.cap,
        "cap_order": policy.order,
        "priority": list(policy.priority),
    }


async def set_listing(command: c.SetListing, uow: UnitOfWork) -> dict[str, Any]:
    """The account's products are re-decided and re-sent at once."""
    accounts = uow.repository(AccountRepository)
    await accounts.set_listing(
        command.account_id,
        command.not_blocking,
        command.product_cap,
        command.cap_order,
        command.priority,
    )
    emitted = await resync(uow, account_ids=[command.account_id])
    policy = await accounts.cap_policy(command.account_id)
    return {
        "account_id": command.account_id,
        "not_blocking": sorted(set(command.not_blocking)),
        "product_cap": policy.cap,
        "cap_order": policy.order,
        "emitted_items": emitted,
    }
