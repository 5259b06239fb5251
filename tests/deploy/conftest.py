"""Fixtures the deployment tests share: the scripts under deploy/ loaded as modules."""

from __future__ import annotations

from types import ModuleType

import pytest

from mci_testing.deploy import (
    DEPLOY,
    load_module,
)


@pytest.fixture(scope="module")
def devstack() -> ModuleType:
    return load_module(DEPLOY / "local" / "devstack.py", "mci_devstack")


@pytest.fixture(scope="module")
def config_reference() -> ModuleType:
    return load_module(DEPLOY / "config_reference.py", "mci_config_reference")
