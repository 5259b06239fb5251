"""A waiting offer waits for something: `offers_waiting_for_something` refuses a row in state
`waiting` with an empty `waiting_for` (such an offer waited on nothing, for good: nothing would
ever move it on). Rows left so by the readiness race are repaired first: each gets what it lacks
(content, base price, stock, the account's readiness), or is checked when it lacks nothing.

Revision ID: 0007_waiting_for_something
Revises: 0006_handling_time
"""

from alembic import op

revision = "0007_waiting_for_something"
down_revision = "0006_handling_time"
branch_labels = None
depends_on = None

_WAITING_ON_NOTHING = "o.state = 'waiting' AND COALESCE(cardinality(o.waiting_for), 0) = 0"


def upgrade() -> None:
    # The state machine's rule (domain/states.py next_step), in SQL, for the rows it missed.
    op.execute(
        "UPDATE offers o SET waiting_for = array_remove(ARRAY["
        " CASE WHEN o.content IS NULL THEN 'content' END,"
        " CASE WHEN o.prices -> a.base_marketplace IS NULL THEN 'price' END,"
        " CASE WHEN o.stock <= 0 THEN 'stock' END,"
        " CASE WHEN a.readiness <> 'ready' THEN 'readiness' END]::text[], NULL),"
        " updated_at = now()"
        " FROM publication_accounts a WHERE a.account_id = o.account_id AND " + _WAITING_ON_NOTHING
    )
    op.execute(
        "WITH moved AS (UPDATE offers o SET state = 'checking', work = 'check', due_at = now(),"
        "  attempts = 0, updated_at = now() WHERE " + _WAITING_ON_NOTHING + " RETURNING"
        "  account_id, sku)"
        " INSERT INTO offer_transitions (account_id, sku, from_state, to_state, cause)"
        " SELECT account_id, sku, 'waiting', 'checking', 'waited on nothing (repaired)'"
        " FROM moved"
    )
    op.execute(
        "ALTER TABLE offers ADD CONSTRAINT offers_waiting_for_something"
        " CHECK (state <> 'waiting' OR COALESCE(cardinality(waiting_for), 0) > 0)"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE offers DROP CONSTRAINT offers_waiting_for_something")
