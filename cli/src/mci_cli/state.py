"""What every command gets through typer's context: the configuration and its clients."""

from __future__ import annotations

from typing import Annotated

import typer

from mci_cli.config import Config
from mci_cli.http import Api

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer")]


class State:
    def __init__(self, config: Config) -> None:
        self.config = config

    def api(self, service: str) -> Api:
        return Api(self.config, service)


def state(ctx: typer.Context) -> State:
    found = ctx.find_root().obj
    assert isinstance(found, State)
    return found
