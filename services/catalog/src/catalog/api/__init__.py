"""The catalog service's operator endpoints, one module per resource: each route parses,
builds a command, calls the service layer (`deps.units`) and shapes the answer."""

from __future__ import annotations

from fastapi import APIRouter

from catalog.api import coverage, imports, mappings, products, reference, screening, selection

router = APIRouter(tags=["catalog"])
for part in (imports, products, reference, selection, screening, mappings, coverage):
    router.include_router(part.router)

__all__ = ["router"]
