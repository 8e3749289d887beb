"""speech input: a conversation's own end silence and vocabulary, a twin's vocabulary

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("end_silence_ms", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("vocabulary", sa.JSON(), nullable=True))
    with op.batch_alter_table("twins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vocabulary", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("twins", schema=None) as batch_op:
        batch_op.drop_column("vocabulary")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("vocabulary")
        batch_op.drop_column("end_silence_ms")
