"""Channels and outreach: encrypted addresses, opt-out, retries, appointments, due messages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 08:39:59.506502
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""

    op.create_table(
        "appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("visit_key", sa.String(length=64), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "done",
                "missed",
                "cancelled",
                name="appointment_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appointments_participant_id"), ["participant_id"], unique=False
        )

    op.create_table(
        "scheduled_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sending",
                "sent",
                "skipped",
                "failed",
                name="outreach_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("scheduled_messages", schema=None) as batch_op:
        batch_op.create_index("ix_scheduled_messages_due", ["status", "due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_scheduled_messages_participant_id"), ["participant_id"], unique=False
        )

    with op.batch_alter_table("message_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("buttons", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index(batch_op.f("ix_message_log_channel_external"))
        batch_op.create_index(
            "ix_message_log_retry", ["delivery_status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ux_message_log_channel_direction_external",
            ["channel", "direction", "external_id"],
            unique=True,
        )

    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("address_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("enrollment_code", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("at_risk_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint("uq_participants_enrollment_code", ["enrollment_code"])
        batch_op.create_unique_constraint("uq_participants_address_hash", ["address_hash"])
        batch_op.drop_column("channel_address")


def downgrade() -> None:
    """Revert this migration."""

    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel_address", sa.TEXT(), nullable=True))
        batch_op.drop_constraint("uq_participants_address_hash", type_="unique")
        batch_op.drop_constraint("uq_participants_enrollment_code", type_="unique")
        batch_op.drop_column("at_risk_since")
        batch_op.drop_column("opted_out_at")
        batch_op.drop_column("enrollment_code")
        batch_op.drop_column("address_hash")
        batch_op.drop_column("address_encrypted")

    with op.batch_alter_table("message_log", schema=None) as batch_op:
        batch_op.drop_index("ux_message_log_channel_direction_external")
        batch_op.drop_index("ix_message_log_retry")
        batch_op.create_index(
            batch_op.f("ix_message_log_channel_external"), ["channel", "external_id"], unique=False
        )
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
        batch_op.drop_column("buttons")

    with op.batch_alter_table("scheduled_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scheduled_messages_participant_id"))
        batch_op.drop_index("ix_scheduled_messages_due")

    op.drop_table("scheduled_messages")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appointments_participant_id"))

    op.drop_table("appointments")
