"""One open escalation per participant and concern.

`escalations` gets `concern` (what a symptom escalation is about: the symptom's key),
`repeat_count` and `updated_at`: a repeat of an open concern updates its item instead of
adding a row (bot.escalation.records.raise_or_merge). Older rows keep NULL and 0: their
symptom is only in the reason, so they are never merged into.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 10:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("concern", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("repeat_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("repeat_count")
        batch_op.drop_column("concern")
