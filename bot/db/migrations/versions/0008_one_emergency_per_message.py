"""One emergency escalation per participant message.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 01:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

EMERGENCY = sa.text("type = 'emergency'")


def upgrade() -> None:
    """Apply this migration."""
    # An older database may hold a repeated emergency for one message: keep the first as
    # it is and mark the others' trigger IDs, so no row is lost and the index can be made.
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, trigger_message_id FROM escalations "
            "WHERE type = 'emergency' AND trigger_message_id IS NOT NULL ORDER BY id"
        )
    ).all()
    seen: set[str] = set()
    for escalation_id, trigger in rows:
        if trigger in seen:
            bind.execute(
                sa.text("UPDATE escalations SET trigger_message_id = :marked WHERE id = :id"),
                {"marked": f"{trigger[:40]}#repeat{escalation_id}", "id": escalation_id},
            )
        seen.add(trigger)
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index(
            "uq_escalations_emergency_trigger",
            ["trigger_message_id"],
            unique=True,
            sqlite_where=EMERGENCY,
            postgresql_where=EMERGENCY,
        )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index("uq_escalations_emergency_trigger")
