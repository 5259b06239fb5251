"""The outbox and inbox tables every service database has (defined once in shared.migrations).

Revision ID: 0001
Revises:
"""

from shared.migrations import create_messaging_tables as upgrade
from shared.migrations import drop_messaging_tables as downgrade

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
__all__ = ["downgrade", "upgrade"]
