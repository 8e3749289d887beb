"""interview plans stored by tenants; a conversation may name one

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from visavis.db.tenant_scope import disable_tenant_rls_sql, enable_tenant_rls_sql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interview_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_interview_plans_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interview_plans")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_interview_plans_tenant_id")),
    )
    with op.batch_alter_table("interview_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_interview_plans_tenant_id"), ["tenant_id"], unique=False
        )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_plan", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for statement in enable_tenant_rls_sql("interview_plans"):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in disable_tenant_rls_sql("interview_plans"):
            op.execute(statement)
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("agent_plan")
    with op.batch_alter_table("interview_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interview_plans_tenant_id"))
    op.drop_table("interview_plans")
