"""One-time passwords and each staff user's time zone.

`staff_users` gets `must_change_password`: true after `trialbot create-user`, an admin's
"add user" or "reset password" (the password was shown to someone else), false once the
user has chosen their own. Users that exist already keep working (false). And `timezone`:
the zone the console shows them times in (NULL: the study site's).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 10:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.drop_column("must_change_password")
