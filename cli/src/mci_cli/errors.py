"""Exit codes scripts can trust: 0 ok, 1 the server said no, 2 a usage error, 3 a service
cannot be reached."""

from __future__ import annotations

OK = 0
REFUSED = 1
USAGE = 2
UNREACHABLE = 3


class Failure(Exception):
    """Ends the command with one line on stderr and this exit code."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message
