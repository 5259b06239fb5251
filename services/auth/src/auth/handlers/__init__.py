"""Use cases of the auth service, by job: `connections` (accounts, OAuth), `tokens`, `api_keys`,
and the `worker` loop. Every use case takes `Auth`, the service's dependencies, built in main.py.
"""

from __future__ import annotations

from auth.handlers.api_keys import (
    BOOTSTRAP_KEY_NAME,
    create_api_key,
    install_bootstrap_key,
    list_api_keys,
    resolve_api_key,
    revoke_api_key,
)
from auth.handlers.common import (
    AccountNotFound,
    AllegroRefused,
    Auth,
    Conflict,
    ConnectionFailed,
    TokensUnavailable,
    now,
)
from auth.handlers.connections import (
    complete_authorization_code,
    create_account,
    delete_account,
    get_account,
    list_accounts,
    poll_device_flows,
    reset_credentials,
    start_authorization_code,
    start_device_flow,
)
from auth.handlers.tokens import access_token, refresh_expiring, rotate_encryption
from auth.handlers.worker import background
from shared.events import Event
from shared.messaging.consumer import Handler

# auth consumes no queue: the registry is empty on purpose.
HANDLERS: dict[type[Event], Handler] = {}

__all__ = [
    "BOOTSTRAP_KEY_NAME",
    "HANDLERS",
    "AccountNotFound",
    "AllegroRefused",
    "Auth",
    "Conflict",
    "ConnectionFailed",
    "TokensUnavailable",
    "access_token",
    "background",
    "complete_authorization_code",
    "create_account",
    "create_api_key",
    "delete_account",
    "get_account",
    "install_bootstrap_key",
    "list_accounts",
    "list_api_keys",
    "now",
    "poll_device_flows",
    "refresh_expiring",
    "reset_credentials",
    "resolve_api_key",
    "revoke_api_key",
    "rotate_encryption",
    "start_authorization_code",
    "start_device_flow",
]
