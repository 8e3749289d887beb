"""tenancy: monthly usage, quota reservations, feature flags, row-level security

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 23:27:47.702041
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from visavis.db.tenant_scope import (
    create_tenant_role_sql,
    disable_tenant_rls_sql,
    drop_tenant_grants_sql,
    enable_tenant_rls_sql,
)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table holding one tenant's rows, and the column that says whose they are.
TENANT_TABLES = {
    "tenants": "id",
    "api_keys": "tenant_id",
    "tenant_preferences": "tenant_id",
    "conversations": "tenant_id",
    "transcript_entries": "tenant_id",
    "avatar_sessions": "tenant_id",
    "avatar_session_events": "tenant_id",
    "conversation_events": "tenant_id",
    "conversation_turns": "tenant_id",
    "usage_months": "tenant_id",
    "quota_reservations": "tenant_id",
    "feature_flag_tenants": "tenant_id",
    "feature_flag_changes": "tenant_id",
}


def upgrade() -> None:
    op.create_table(
        "feature_flag_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flag_name", sa.String(length=50), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("change", sa.JSON(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_flag_changes")),
    )
    with op.batch_alter_table("feature_flag_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feature_flag_changes_flag_name_id", ["flag_name", "id"], unique=False
        )

    op.create_table(
        "feature_flags",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("rollout_percent", sa.Integer(), nullable=False),
        sa.Column("kill_switch", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_feature_flags")),
    )
    op.create_table(
        "feature_flag_tenants",
        sa.Column("flag_name", sa.String(length=50), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["flag_name"],
            ["feature_flags.name"],
            name=op.f("fk_feature_flag_tenants_flag_name_feature_flags"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_feature_flag_tenants_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("flag_name", "tenant_id", name=op.f("pk_feature_flag_tenants")),
    )
    with op.batch_alter_table("feature_flag_tenants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feature_flag_tenants_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "quota_reservations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("estimated_seconds", sa.BigInteger(), nullable=False),
        sa.Column("estimated_cost_microusd", sa.BigInteger(), nullable=False),
        sa.Column("actual_seconds", sa.BigInteger(), nullable=True),
        sa.Column("cost_microusd", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_quota_reservations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_reservations")),
    )
    with op.batch_alter_table("quota_reservations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_quota_reservations_status_created_at", ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_quota_reservations_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "usage_months",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("avatar_sessions", sa.Integer(), nullable=False),
        sa.Column("avatar_seconds", sa.BigInteger(), nullable=False),
        sa.Column("cost_microusd", sa.BigInteger(), nullable=False),
        sa.Column("reserved_sessions", sa.Integer(), nullable=False),
        sa.Column("reserved_seconds", sa.BigInteger(), nullable=False),
        sa.Column("reserved_cost_microusd", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_months_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "period", name=op.f("pk_usage_months")),
    )
    # A plain ADD COLUMN (no foreign key): on SQLite a constraint would rebuild the table, and
    # dropping the old conversations table would cascade into its transcripts.
    op.add_column("conversations", sa.Column("quota_reservation_id", sa.Uuid(), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        for statement in create_tenant_role_sql():
            op.execute(statement)
        for table, column in TENANT_TABLES.items():
            for statement in enable_tenant_rls_sql(table, column):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            for statement in disable_tenant_rls_sql(table):
                op.execute(statement)
        for statement in drop_tenant_grants_sql():
            op.execute(statement)

    op.drop_column("conversations", "quota_reservation_id")
    op.drop_table("usage_months")
    with op.batch_alter_table("quota_reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quota_reservations_tenant_id"))
        batch_op.drop_index("ix_quota_reservations_status_created_at")

    op.drop_table("quota_reservations")
    with op.batch_alter_table("feature_flag_tenants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feature_flag_tenants_tenant_id"))

    op.drop_table("feature_flag_tenants")
    op.drop_table("feature_flags")
    with op.batch_alter_table("feature_flag_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_feature_flag_changes_flag_name_id")

    op.drop_table("feature_flag_changes")
