"""Where a long conversation's tracker starts reading (bot.db.tracker_store).

`tracker_windows` holds one row per conversation that the project's tracker store has
saved: the id of the first `events` row a turn reads, and the prefix (Rasa events as
JSON) that reproduces the conversation's state before it. Rasa's `events` table is not
ours (Rasa creates it); the store adds its (sender_id, id) index on PostgreSQL itself.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 16:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "tracker_windows",
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("first_event_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender_id"),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("tracker_windows")
