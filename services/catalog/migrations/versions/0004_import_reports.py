"""Import reports: per-row error codes, superseded rows, what a failed import applied.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "import_errors",
        sa.Column("code", sa.Text, nullable=False, server_default="invalid_value"),
    )
    op.add_column("imports", sa.Column("encoding", sa.Text))
    for name in ("superseded", "applied", "applied_through_line"):
        op.add_column("imports", sa.Column(name, sa.Integer, nullable=False, server_default="0"))
    # The SKUs an import has seen so far, to count rows superseded by a later row of the same
    # file without holding every SKU in memory; emptied when the import ends. Unlogged: it is
    # scratch, worthless after a crash.
    op.execute(
        "CREATE UNLOGGED TABLE import_seen_skus (import_id uuid NOT NULL, sku text NOT NULL,"
        " PRIMARY KEY (import_id, sku))"
    )


def downgrade() -> None:
    op.drop_table("import_seen_skus")
    for name in ("superseded", "applied", "applied_through_line", "encoding"):
        op.drop_column("imports", name)
    op.drop_column("import_errors", "code")
