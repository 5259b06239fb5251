"""Handler failures counted per message, and the outbox's pruning index (shared.migrations).

Revision ID: 0005
Revises: 0004
"""

from shared.migrations import create_message_failures_table as upgrade
from shared.migrations import drop_message_failures_table as downgrade

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
__all__ = ["downgrade", "upgrade"]
