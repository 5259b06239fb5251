"""Runs last (file order): every operation the emulator serves was validated against the spec."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from allegro_emulator import (
    after_sales,
    catalogue,
    commands,
    offer_events,
    offers,
    orders,
    pricing,
    shipping,
)
from allegro_emulator.web import required_scope

from .conftest import VALIDATED


def test_every_served_operation_was_validated_against_the_spec(
    spec_dict: dict[str, object],
) -> None:
    if len(VALIDATED) < 40:
        pytest.skip("only meaningful after the whole suite ran")
    served = set()
    for module in (
        after_sales,
        catalogue,
        commands,
        offer_events,
        offers,
        orders,
        pricing,
        shipping,
    ):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods or ():
                served.add((method, route.path))
    paths = spec_dict["paths"]
    assert isinstance(paths, dict)
    not_in_spec = {(m, p) for m, p in served if p not in paths or m.lower() not in paths[p]}
    assert not not_in_spec
    # The scope each resource demands is the one the spec's `security` names.
    for method, path in served:
        operation = paths[path][method.lower()]
        scopes = [
            s
            for entry in operation.get("security", [])
            for s in entry.get("bearer-token-for-user", [])
        ]
        if scopes:
            assert required_scope(method, path) in scopes, (method, path, scopes)
    missing = sorted(served - VALIDATED)
    assert not missing, "\n".join(f"{m} {p}" for m, p in missing)
