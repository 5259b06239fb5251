"""Use cases of the auth service, by job: `connections` (accounts, OAuth), `tokens`, `api_keys`,
and the `worker` loop.

Handlers take `(message, uow)` and run behind `AuthDeps.units` (`handle` / `read`). The flows
that call Allegro (`start_*`, `complete_authorization_code`, `poll_device_flows`,
`access_token`, `rotate_encryption`) take the dependencies object and run those handlers
around their calls; only the token refresh calls Allegro inside a unit (its row lock is the
single flight across replicas).
"""

from __future__ import annotations

from auth.deps import AuthDeps
from auth.handlers.api_keys import (
    BOOTSTRAP_KEY_NAME,
    bootstrap_key_of,
    create_api_key,
    install_bootstrap_key,
    list_api_keys,
    resolve_api_key,
    revoke_api_key,
)
from auth.handlers.common import (
    AccountNotFound,
    AllegroRefused,
    Conflict,
    ConnectionFailed,
    TokensUnavailable,
    now,
)
from auth.handlers.connections import (
    add_attempt,
    claim_device_attempts,
    complete_authorization_code,
    create_account,
    delete_account,
    finish_attempt,
    get_account,
    link_account,
    list_accounts,
    open_callback,
    poll_device_flows,
    reset_credentials,
    schedule_poll,
    start_authorization_code,
    start_device_flow,
)
from auth.handlers.tokens import (
    access_token,
    expiring_accounts,
    refresh_expiring,
    refresh_under_lock,
    rotate_encryption,
    rotate_secrets,
)
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
    "AuthDeps",
    "Conflict",
    "ConnectionFailed",
    "TokensUnavailable",
    "access_token",
    "add_attempt",
    "background",
    "bootstrap_key_of",
    "claim_device_attempts",
    "complete_authorization_code",
    "create_account",
    "create_api_key",
    "delete_account",
    "expiring_accounts",
    "finish_attempt",
    "get_account",
    "install_bootstrap_key",
    "link_account",
    "list_accounts",
    "list_api_keys",
    "now",
    "open_callback",
    "poll_device_flows",
    "refresh_expiring",
    "refresh_under_lock",
    "reset_credentials",
    "resolve_api_key",
    "revoke_api_key",
    "rotate_encryption",
    "rotate_secrets",
    "schedule_poll",
    "start_authorization_code",
    "start_device_flow",
]
