"""Staff alert addresses proven by their owner.

`staff_users` gets `phone_verified_at` and `telegram_chat_verified_at`: when the person
typed in the console a check code sent to that address (bot.alerts.verification). Users
that exist already stay unverified (NULL) until they do. `staff_address_checks` holds the
code waiting to be typed: one per user and channel, as an argon2id hash, with the keyed
hash of the address it went to, its expiry and the tries so far.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_verified_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("telegram_chat_verified_at", sa.DateTime(timezone=True)))
    op.create_table(
        "staff_address_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "telegram",
                "sms",
                "console",
                name="alert_channel",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_user_id"], ["staff_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("staff_user_id", "channel", name="uq_staff_address_checks"),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("staff_address_checks")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("telegram_chat_verified_at")
        batch_op.drop_column("phone_verified_at")
