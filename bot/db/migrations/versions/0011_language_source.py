"""Where a participant's language came from: participants.language_source.

"enrollment", "detected", "participant", or NULL while it is not known yet (read from the
participant's next message). Everyone enrolled so far had their language chosen at
enrollment; web-chat visitors had none chosen.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language_source", sa.String(length=16), nullable=True))
    op.get_bind().execute(
        sa.text("UPDATE participants SET language_source = :source WHERE channel != 'web'"),
        {"source": "enrollment"},
    )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_column("language_source")
