"""Staff alert deliveries, handoffs, and who typed a message.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 10:12:40.512318
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    """A portable string enum with a CHECK constraint, as the models store them."""
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    """Apply this migration."""

    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("kind", _enum("alert_kind", "alert", "ack_notice"), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("channel", _enum("alert_channel", "telegram", "sms", "console"), nullable=False),
        sa.Column("recipient", sa.String(length=80), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            _enum(
                "alert_status", "pending", "sending", "sent", "failed", "undelivered", "cancelled"
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempt_log", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_user_id"], ["staff_users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "escalation_id", "kind", "round", "channel", "recipient", name="uq_alert_deliveries"
        ),
    )
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_deliveries_escalation_id"), ["escalation_id"], unique=False
        )
        batch_op.create_index("ix_alert_deliveries_due", ["status", "next_attempt_at"])
        batch_op.create_index("ix_alert_deliveries_external", ["channel", "external_id"])

    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalations.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["staff_user_id"], ["staff_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.create_index(
            "ux_handoffs_active",
            ["participant_id"],
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.create_index("ix_handoffs_staff_active", ["staff_user_id", "ended_at"])

    with op.batch_alter_table("message_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_by", sa.String(length=128), nullable=True))


def downgrade() -> None:
    """Revert this migration."""

    with op.batch_alter_table("message_log", schema=None) as batch_op:
        batch_op.drop_column("sent_by")
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_index("ix_handoffs_staff_active")
        batch_op.drop_index("ux_handoffs_active")
    op.drop_table("handoffs")
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_deliveries_external")
        batch_op.drop_index("ix_alert_deliveries_due")
        batch_op.drop_index(batch_op.f("ix_alert_deliveries_escalation_id"))
    op.drop_table("alert_deliveries")
