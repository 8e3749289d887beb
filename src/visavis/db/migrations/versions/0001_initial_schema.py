"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 23:16:15.376595
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_ref", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("agent", sa.String(length=50), nullable=False),
        sa.Column("avatar_requested", sa.Boolean(), nullable=False),
        sa.Column("avatar_enabled", sa.Boolean(), nullable=False),
        sa.Column("avatar_provider", sa.String(length=20), nullable=True),
        sa.Column("avatar_id", sa.String(length=200), nullable=True),
        sa.Column("avatar_quality", sa.String(length=10), nullable=True),
        sa.Column("avatar_reason", sa.String(length=50), nullable=True),
        sa.Column("avatar_detail", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=50), nullable=True),
        sa.Column("last_client_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_conversations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversations_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_conversations_tenant_status_id", ["tenant_id", "status", "id"], unique=False
        )

    op.create_table(
        "tenant_preferences",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("avatar_enabled_default", sa.Boolean(), nullable=False),
        sa.Column("default_avatar_id", sa.String(length=200), nullable=True),
        sa.Column("default_provider", sa.String(length=20), nullable=False),
        sa.Column("monthly_avatar_session_limit", sa.Integer(), nullable=True),
        sa.Column("monthly_avatar_seconds_limit", sa.BigInteger(), nullable=True),
        sa.Column("monthly_cost_limit_microusd", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_preferences_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_preferences")),
    )
    op.create_table(
        "avatar_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_session_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("quality", sa.String(length=10), nullable=True),
        sa.Column("voice", sa.String(length=200), nullable=True),
        sa.Column("avatar_id", sa.String(length=200), nullable=True),
        sa.Column("browser_token_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("streaming_seconds", sa.Float(), nullable=False),
        sa.Column("cost_microusd", sa.BigInteger(), nullable=False),
        sa.Column("stop_reason", sa.String(length=50), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_avatar_sessions_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_avatar_sessions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_avatar_sessions")),
    )
    with op.batch_alter_table("avatar_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_avatar_sessions_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index("ix_avatar_sessions_status", ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_avatar_sessions_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "transcript_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("actual_start_ms", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("interrupted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_transcript_entries_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_transcript_entries_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_entries")),
    )
    with op.batch_alter_table("transcript_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transcript_entries_conversation_seq", ["conversation_id", "seq"], unique=True
        )
        batch_op.create_index(
            batch_op.f("ix_transcript_entries_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "avatar_session_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("avatar_session_id", sa.Uuid(), nullable=True),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["avatar_session_id"],
            ["avatar_sessions.id"],
            name=op.f("fk_avatar_session_events_avatar_session_id_avatar_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_avatar_session_events_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_avatar_session_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_avatar_session_events")),
    )
    with op.batch_alter_table("avatar_session_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_avatar_session_events_avatar_session_id"),
            ["avatar_session_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_avatar_session_events_conversation_id"),
            ["conversation_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_avatar_session_events_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("avatar_session_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_avatar_session_events_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_avatar_session_events_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_avatar_session_events_avatar_session_id"))

    op.drop_table("avatar_session_events")
    with op.batch_alter_table("transcript_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transcript_entries_tenant_id"))
        batch_op.drop_index("ix_transcript_entries_conversation_seq")

    op.drop_table("transcript_entries")
    with op.batch_alter_table("avatar_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_avatar_sessions_tenant_id"))
        batch_op.drop_index("ix_avatar_sessions_status")
        batch_op.drop_index(batch_op.f("ix_avatar_sessions_conversation_id"))

    op.drop_table("avatar_sessions")
    op.drop_table("tenant_preferences")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_tenant_status_id")
        batch_op.drop_index(batch_op.f("ix_conversations_tenant_id"))

    op.drop_table("conversations")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_tenant_id"))

    op.drop_table("api_keys")
    op.drop_table("tenants")
