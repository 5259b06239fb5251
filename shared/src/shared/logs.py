"""structlog JSON logging and the correlation id that follows a request through the platform.

The correlation id is bound in a contextvar by the HTTP middleware or by the consumer (from the
message's `correlation_id`), written into every outbox row, and so carried to the next service.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
causation_id_var: ContextVar[str | None] = ContextVar("causation_id", default=None)

# Keys whose values never reach a log line, whatever logs them (tokens, keys, passwords).
_REDACTED_KEYS = (
    "token",
    "secret",
    "password",
    "authorization",
    "api_key",
    "code_verifier",
    "refresh",
)


def current_correlation_id() -> str:
    """The bound correlation id, or a fresh one bound from now on."""
    value = correlation_id_var.get()
    if value is None:
        # Bound beside what the context already holds (e.g. `service`), never instead of it.
        value = str(uuid.uuid4())
        correlation_id_var.set(value)
        structlog.contextvars.bind_contextvars(correlation_id=value)
    return value


@contextmanager
def correlation_scope(correlation_id: str | None, causation_id: str | None = None) -> Iterator[str]:
    """Bind a correlation (and causation) id for the duration of one request or message."""
    cid_token = correlation_id_var.set(correlation_id or str(uuid.uuid4()))
    cause_token = causation_id_var.set(causation_id)
    cid = correlation_id_var.get() or ""
    with structlog.contextvars.bound_contextvars(correlation_id=cid):
        try:
            yield cid
        finally:
            correlation_id_var.reset(cid_token)
            causation_id_var.reset(cause_token)


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        lowered = key.lower()
        if any(marker in lowered for marker in _REDACTED_KEYS) and key != "correlation_id":
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(service: str, level: str = "INFO", json: bool | None = None) -> None:
    """JSON to stdout when not on a terminal (or when asked); a readable console otherwise."""
    render_json = json if json is not None else not sys.stdout.isatty()
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if render_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.dict_tracebacks
            if render_json
            else structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # No file bound here: each logger writes to the sys.stdout of its moment (tests swap it).
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries log through the standard library; route them to the same stream, less chatty.
    logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(name)s %(message)s")


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
