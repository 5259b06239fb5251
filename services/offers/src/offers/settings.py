from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.allegro.client import LARGEST_COMMAND
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The offers service's settings; environment variables prefixed `OFFERS_`."""

    service_name: ClassVar[str] = "offers"
    default_http_port: ClassVar[int] = 8004

    model_config = SettingsConfigDict(env_prefix="OFFERS_", extra="ignore", env_ignore_empty=True)

    # Its share of the Client ID (every create, read-back, image upload, command and offer
    # event: most of the calls); the five services' sum 0.9.
    allegro_client_share: float = 0.5
    # A CatalogUpdated or PriceComputed carries up to a few hundred offers, each a row updated
    # and locked until the commit: a few messages per transaction let the sync and the publisher
    # start on the first offers of a burst at once. At the shared 100, bench-offers' stock
    # change of 45,000 offers came in two transactions, and nothing was sent before the first
    # one's 25,000 offers were committed.
    consumer_batch_size: int = 4

    # Offers one replica works on at once (each a claim with a lease: one write per offer).
    # Enough to keep the budgets busy: in flight = steps per second x a step's time. At
    # Allegro's pace, 37 creates, 37 read-backs and 11 operation polls a second; a step is a
    # few database transactions and a call (0.15 s on a quiet machine, 0.5-0.7 s measured by
    # bench-offers on a loaded one, where 16 left the creation budget half idle). Steps beyond
    # the budget wait for their turn in the limiter, cheaply.
    publish_concurrency: int = 48
    # Offers claimed per round at most (a round claims once half of them fit beside the steps
    # in flight, and those beyond the slots wait for one): the round's look-ups by external id,
    # account settings and price lists are read once for all of them, and a round's reads
    # take a few database round trips, so the batch, not the loop, must carry the pace.
    publish_batch_size: int = 50
    # How long a replica holds an offer it claimed before another may take it over (a crashed
    # replica's claim expires; a create is then finished after a look-up by external id).
    publish_lease_seconds: float = 120.0
    # How often the worker looks for due offers and readiness checks when it found none.
    publish_poll_interval_seconds: float = 1.0
    # Attempts of one step (Allegro unavailable, 429, 409 on a concurrent edit) before the
    # offer is failed.
    publish_max_attempts: int = 8
    # The wait before a step is tried again, doubled per attempt.
    publish_backoff_seconds: float = 5.0
    # The longest wait between two attempts of one step.
    publish_backoff_max_seconds: float = 300.0
    # After an offer went live, read it back once this much later: late validation can turn it
    # into a draft, and the additional marketplaces' qualification settles.
    verify_after_seconds: float = 60.0
    # A not-ready account is checked again this often (and at once on request).
    readiness_recheck_seconds: float = 300.0
    # Category parameter definitions are read from Allegro again when older than this.
    category_parameters_max_age_seconds: float = 86_400.0
    # A supplier image URL whose upload Allegro refused (422: not found, a format or size it
    # does not take) is left out of offers without uploading it again for this long; then it
    # is tried again, so an image the supplier fixed is picked up (7 days).
    image_refusal_retry_seconds: float = 604_800.0
    # How often each worker counts the offers by state and marketplace for the
    # mci_offers_offers gauge (one GROUP BY over the offers table).
    state_metrics_interval_seconds: float = 30.0
    # A fixed list of account ids instead of asking auth which accounts exist: for benchmarks
    # and scripts that run this service without auth. Unset (the default): auth is asked.
    known_accounts: list[str] | None = None
    # Allegro's limit of shipping price lists per account (they cannot be deleted): a shipping
    # configuration whose lists would take the account past it is refused.
    shipping_rates_limit: int = 250
    # How long one apply of an account's shipping lists holds the account; a crashed apply's
    # hold runs out after it.
    shipping_apply_lease_seconds: float = 300.0
    # How often the sync looks for offers whose price or stock differs from what Allegro was
    # sent, when no handler of this process woke it (other replicas' changes, backoffs).
    sync_poll_interval_seconds: float = 1.0
    # After a wake-up the sync waits this long, so a burst of changes shares commands.
    sync_gather_seconds: float = 0.2
    # Out-of-sync offers gathered per round into commands.
    sync_plan_limit: int = 10_000
    # Offers per batch command (Allegro's maximum: 1,000). Fewer by default, so that one command
    # on top of a minute at the command budget stays within Allegro's sliding minute.
    sync_offers_per_command: int = LARGEST_COMMAND
    # Commands one replica sends and polls at once.
    sync_concurrency: int = 8
    # How long a replica holds a command it sends or polls before another may take it over.
    sync_lease_seconds: float = 60.0
    # Wait between two reads of a command whose tasks are still running.
    sync_command_poll_seconds: float = 0.5
    # Failed tries of one offer's change on transient task errors before it is surfaced.
    sync_max_attempts: int = 6
    # The wait before a transiently failed change goes again, doubled per failure.
    sync_backoff_seconds: float = 2.0
    # The longest wait between two tries of one offer's change.
    sync_backoff_max_seconds: float = 300.0
    # Read Allegro's offer events for drift (off: drift is found only by a reconcile).
    offer_events_enabled: bool = True
    # How often each ready account's offer events (GET /sale/offer-events) are read when the
    # last read caught up; a full page is followed at once.
    offer_events_poll_interval_seconds: float = 30.0
    # How long one replica holds an account's event cursor while it reads a page.
    offer_events_lease_seconds: float = 120.0
    # Offer events read a call (Allegro's most: 1,000); a full page is followed at once.
    offer_events_page_size: int = 1000
    # Offers listed a call while a reconcile pages through the account (Allegro's most: 1,000).
    reconcile_page_size: int = 1000
    # How long one reconcile holds its account (a crashed one's hold runs out after it).
    reconcile_lease_seconds: float = 600.0
