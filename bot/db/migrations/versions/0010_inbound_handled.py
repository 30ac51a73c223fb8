"""Inbound messages handled once, in order; outreach claims are leases.

`message_log` gets `handled_at` (when an inbound message's turn was done; NULL while it
waits), the claim of whoever handles it (`claimed_by`, `claimed_until`: a lease) and
`detail` (what the channel needs to handle it later), with a partial index over the
messages still waiting. Every inbound message already stored counts as handled.

`scheduled_messages` gets its claim (`claimed_by`, `claimed_at`). A row left 'sending' by
the worker before this one has no claim to reconcile: it is marked failed with a note, as
that worker itself would have done at its next start.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
# 0009 is being added in parallel; re-chain this one after it when both are merged.
down_revision = "0009"
branch_labels = None
depends_on = None

UNHANDLED_INBOUND = sa.text("handled_at IS NULL AND direction = 'in'")
LEFT_SENDING = "interrupted mid-send before the upgrade (worker stopped): not sent again"


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("message_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("detail", sa.JSON(), nullable=True))
    op.execute(sa.text("UPDATE message_log SET handled_at = created_at WHERE direction = 'in'"))
    with op.batch_alter_table("message_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_log_unhandled",
            ["participant_id", "channel", "id"],
            unique=False,
            sqlite_where=UNHANDLED_INBOUND,
            postgresql_where=UNHANDLED_INBOUND,
        )

    with op.batch_alter_table("scheduled_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        sa.text(
            "UPDATE scheduled_messages SET status = 'failed', note = :note WHERE status = 'sending'"
        ).bindparams(note=LEFT_SENDING)
    )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("scheduled_messages", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claimed_by")

    with op.batch_alter_table("message_log", schema=None) as batch_op:
        batch_op.drop_index("ix_message_log_unhandled")
        batch_op.drop_column("detail")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("handled_at")
