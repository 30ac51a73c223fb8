"""Rasa turns whose replies the outreach worker already sent (bot.outreach.deferred).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 20:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "deferred_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("scheduled_message_id", sa.Integer(), nullable=True),
        sa.Column("intent", sa.String(length=64), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("said", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["scheduled_message_id"], ["scheduled_messages.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scheduled_message_id"),
    )
    op.create_index("ix_deferred_turns_participant", "deferred_turns", ["participant_id", "status"])
    op.create_index("ix_deferred_turns_status", "deferred_turns", ["status", "id"])


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index("ix_deferred_turns_status", table_name="deferred_turns")
    op.drop_index("ix_deferred_turns_participant", table_name="deferred_turns")
    op.drop_table("deferred_turns")
