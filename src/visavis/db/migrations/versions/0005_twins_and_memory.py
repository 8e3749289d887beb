"""digital twins, their memory (facts, stories, query history), its full-text index; voice samples

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from visavis.db.tenant_scope import disable_tenant_rls_sql, enable_tenant_rls_sql
from visavis.mind import search_index

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TENANT_TABLES = (
    "twins",
    "memory_items",
    "memory_queries",
    "voice_profiles",
    "voice_samples",
    "voice_consents",
)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["tenants.id"],
        name=op.f(f"fk_{table}_tenant_id_tenants"),
        ondelete="CASCADE",
    )


def _twin_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["twin_id"], ["twins.id"], name=op.f(f"fk_{table}_twin_id_twins"), ondelete="CASCADE"
    )


def _profile_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["profile_id"],
        ["voice_profiles.id"],
        name=op.f(f"fk_{table}_profile_id_voice_profiles"),
        ondelete="CASCADE",
    )


def _create_voice_tables() -> None:
    op.create_table(
        "voice_profiles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("backend", sa.String(length=20), nullable=True),
        sa.Column("provider_voice_id", sa.String(length=300), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("voice_profiles"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_profiles")),
    )
    op.create_index(op.f("ix_voice_profiles_tenant_id"), "voice_profiles", ["tenant_id"])
    op.create_table(
        "voice_samples",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("pcm16", sa.LargeBinary(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("voice_samples"),
        _profile_fk("voice_samples"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_samples")),
    )
    op.create_table(
        "voice_consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("person_name", sa.String(length=200), nullable=False),
        sa.Column("consent_text", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=20), nullable=False),
        sa.Column("agreed_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("voice_consents"),
        _profile_fk("voice_consents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_consents")),
    )
    for table in ("voice_samples", "voice_consents"):
        op.create_index(op.f(f"ix_{table}_tenant_id"), table, ["tenant_id"])
        op.create_index(f"ix_{table}_profile_id", table, ["profile_id"])


def upgrade() -> None:
    op.create_table(
        "twins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("bio", sa.Text(), nullable=False),
        sa.Column("speaking_style", sa.Text(), nullable=False),
        sa.Column("llm", sa.JSON(), nullable=True),
        sa.Column("llm_api_key_encrypted", sa.Text(), nullable=True),
        sa.Column("voice", sa.String(length=100), nullable=False),
        sa.Column("avatar", sa.JSON(), nullable=True),
        sa.Column("learning", sa.Boolean(), nullable=False),
        sa.Column("memory_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("twins"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twins")),
    )
    op.create_index(op.f("ix_twins_tenant_id"), "twins", ["tenant_id"], unique=False)
    op.create_table(
        "memory_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("twin_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("source_conversation_id", sa.Uuid(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("happened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_by", sa.Uuid(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("memory_items"),
        _twin_fk("memory_items"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_items")),
    )
    op.create_index(op.f("ix_memory_items_tenant_id"), "memory_items", ["tenant_id"])
    op.create_index("ix_memory_items_twin_kind", "memory_items", ["twin_id", "kind"])
    op.create_table(
        "memory_queries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("twin_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("retrieved", sa.JSON(), nullable=False),
        sa.Column("used", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("memory_queries"),
        _twin_fk("memory_queries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_queries")),
    )
    op.create_index(op.f("ix_memory_queries_tenant_id"), "memory_queries", ["tenant_id"])
    op.create_index("ix_memory_queries_twin_id_id", "memory_queries", ["twin_id", "id"])
    _create_voice_tables()
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("twin_id", sa.Uuid(), nullable=True))
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in search_index.sqlite_create_sql():
            op.execute(statement)
    if dialect == "postgresql":
        for statement in search_index.postgres_create_sql():
            op.execute(statement)
        for table in _TENANT_TABLES:
            for statement in enable_tenant_rls_sql(table):
                op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in _TENANT_TABLES:
            for statement in disable_tenant_rls_sql(table):
                op.execute(statement)
        for statement in search_index.postgres_drop_sql():
            op.execute(statement)
    if dialect == "sqlite":
        for statement in search_index.sqlite_drop_sql():
            op.execute(statement)
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("twin_id")
    for table in ("voice_consents", "voice_samples"):
        op.drop_index(f"ix_{table}_profile_id", table_name=table)
        op.drop_index(op.f(f"ix_{table}_tenant_id"), table_name=table)
        op.drop_table(table)
    op.drop_index(op.f("ix_voice_profiles_tenant_id"), table_name="voice_profiles")
    op.drop_table("voice_profiles")
    op.drop_index("ix_memory_queries_twin_id_id", table_name="memory_queries")
    op.drop_index(op.f("ix_memory_queries_tenant_id"), table_name="memory_queries")
    op.drop_table("memory_queries")
    op.drop_index("ix_memory_items_twin_kind", table_name="memory_items")
    op.drop_index(op.f("ix_memory_items_tenant_id"), table_name="memory_items")
    op.drop_table("memory_items")
    op.drop_index(op.f("ix_twins_tenant_id"), table_name="twins")
    op.drop_table("twins")
