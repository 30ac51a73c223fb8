"""Test traffic: participants.is_test, set for every web-chat participant.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_test", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # Everyone who came in through the web chat so far is test traffic too.
    op.get_bind().execute(
        sa.text("UPDATE participants SET is_test = :test WHERE channel = 'web'"), {"test": True}
    )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_column("is_test")
