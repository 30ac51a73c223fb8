"""Replies numbered in the handling of the message they answer.

`message_log` gets `reply_to_id` (the inbound message an outbound reply answers) and
`reply_index` (the reply's number in that handling), indexed together. A handling run
again after its server stopped mid-turn finds what the first run sent and does not send
it twice (bot.messaging.delivery). Rows logged before stay NULL: they are not replies of
a handling that can be run again.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("message_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_to_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reply_index", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_message_log_reply_to", "message_log", ["reply_to_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_message_log_reply", ["reply_to_id", "reply_index"])


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("message_log", schema=None) as batch_op:
        batch_op.drop_index("ix_message_log_reply")
        batch_op.drop_constraint("fk_message_log_reply_to", type_="foreignkey")
        batch_op.drop_column("reply_index")
        batch_op.drop_column("reply_to_id")
