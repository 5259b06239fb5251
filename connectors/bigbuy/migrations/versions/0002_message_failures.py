"""Handler failures counted per message, and the outbox's pruning index (shared.migrations).

Revision ID: 0002
Revises: 0001
"""

from shared.migrations import create_message_failures_table as upgrade
from shared.migrations import drop_message_failures_table as downgrade

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
__all__ = ["downgrade", "upgrade"]
