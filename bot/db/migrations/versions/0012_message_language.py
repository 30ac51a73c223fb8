"""The language of each logged message.

`message_log` gets `language` ("en", "es"; NULL for a message of no participant): the
language of the text, recorded when the message is logged (bot.db.repository.log_message,
bot.messaging.delivery). Rows logged before are given their participant's language now:
before this revision every participant-facing text was English, and a participant's
language was never changed after enrollment.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-14 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

FROM_PARTICIPANT = sa.text(
    "UPDATE message_log SET language = "
    "(SELECT participants.language FROM participants "
    "WHERE participants.id = message_log.participant_id) "
    "WHERE participant_id IS NOT NULL"
)


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("message_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=16), nullable=True))
    op.execute(FROM_PARTICIPANT)


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("message_log", schema=None) as batch_op:
        batch_op.drop_column("language")
