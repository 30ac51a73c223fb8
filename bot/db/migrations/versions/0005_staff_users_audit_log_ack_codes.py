"""Staff console: staff users, an append-only audit log, sign-in attempts, ack codes.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-25 08:52:24.183319
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

# The same alphabet and length as bot.escalation.records (copied: a migration is a snapshot).
ACK_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ACK_CODE_LENGTH = 6

APPEND_ONLY_MESSAGE = "audit_events is append-only"

SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
)
POSTGRESQL_TRIGGERS = (
    "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'insufficient_privilege'; "
    "END $$",
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
)


def upgrade() -> None:
    """Apply this migration."""
    _create_audit_events()
    _create_sign_in_attempts()
    _create_staff_users()
    _add_ack_codes()


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_constraint("uq_escalations_ack_code", type_="unique")
        batch_op.drop_column("ack_code")

    op.drop_table("staff_users")

    with op.batch_alter_table("sign_in_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_in_attempts_username_at")
        batch_op.drop_index("ix_sign_in_attempts_ip_at")
    op.drop_table("sign_in_attempts")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_participant_at")
        batch_op.drop_index("ix_audit_events_escalation_at")
        batch_op.drop_index("ix_audit_events_at")
    op.drop_table("audit_events")  # drops its triggers with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")


def _create_audit_events() -> None:
    """The audit log, with triggers that refuse UPDATE and DELETE."""
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_at", ["at"], unique=False)
        batch_op.create_index(
            "ix_audit_events_escalation_at", ["escalation_id", "at"], unique=False
        )
        batch_op.create_index(
            "ix_audit_events_participant_at", ["participant_id", "at"], unique=False
        )
    dialect = op.get_bind().dialect.name
    triggers = {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRESQL_TRIGGERS}.get(dialect)
    if triggers is None:
        raise RuntimeError(f"no append-only triggers for the {dialect} database")
    for statement in triggers:
        op.execute(statement)


def _create_sign_in_attempts() -> None:
    """Console sign-in attempts, for rate limiting."""
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sign_in_attempts"),
    )
    with op.batch_alter_table("sign_in_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_sign_in_attempts_ip_at", ["ip", "at"], unique=False)
        batch_op.create_index("ix_sign_in_attempts_username_at", ["username", "at"], unique=False)


def _create_staff_users() -> None:
    """Console users and where their alerts go."""
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "staff",
                "researcher",
                "admin",
                name="staff_role",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("phone_encrypted", sa.Text(), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("telegram_chat_id_encrypted", sa.Text(), nullable=True),
        sa.Column("telegram_chat_id_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_staff_users"),
        sa.UniqueConstraint("phone_hash", name="uq_staff_users_phone_hash"),
        sa.UniqueConstraint("telegram_chat_id_hash", name="uq_staff_users_telegram_chat_id_hash"),
        sa.UniqueConstraint("username", name="uq_staff_users_username"),
    )


def _add_ack_codes() -> None:
    """Every escalation gets a unique code; existing ones are given one here."""
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ack_code", sa.String(length=12), nullable=True))

    escalations = sa.table(
        "escalations", sa.column("id", sa.Integer()), sa.column("ack_code", sa.String())
    )
    bind = op.get_bind()
    ids = bind.execute(sa.select(escalations.c.id)).scalars().all()
    for escalation_id, code in zip(ids, _unique_codes(len(ids)), strict=True):
        bind.execute(
            escalations.update().where(escalations.c.id == escalation_id).values(ack_code=code)
        )

    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.alter_column("ack_code", existing_type=sa.String(length=12), nullable=False)
        batch_op.create_unique_constraint("uq_escalations_ack_code", ["ack_code"])


def _unique_codes(count: int) -> list[str]:
    """`count` distinct acknowledgement codes."""
    codes: set[str] = set()
    while len(codes) < count:
        codes.add("".join(secrets.choice(ACK_CODE_ALPHABET) for _ in range(ACK_CODE_LENGTH)))
    return sorted(codes)
