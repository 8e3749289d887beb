"""Every column that holds a secret encrypted at rest, and their re-encryption under a new key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, MetaData, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.base import Base
from visavis.tenancy.crypto import SecretBox

# (table, column): add a column here when a new secret is stored, and rotation covers it.
ENCRYPTED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("avatar_sessions", "browser_token_encrypted"),
    ("webhook_endpoints", "secret_encrypted"),
)
_BATCH = 500


@dataclass(frozen=True, slots=True)
class RotationCount:
    """What one rotation did."""

    rotated: int
    already_current: int


def _table(metadata: MetaData, name: str) -> Table:
    return metadata.tables[name]


async def rotate_encrypted_columns(session: AsyncSession, box: SecretBox) -> RotationCount:
    """Re-encrypt every stored secret under the newest key (batch by batch); caller commits."""
    rotated = current = 0
    for table_name, column_name in ENCRYPTED_COLUMNS:
        table = _table(Base.metadata, table_name)
        value: Column[str] = table.c[column_name]
        key = table.c["id"]
        after = None
        while True:
            query = select(key, value).where(value.is_not(None)).order_by(key).limit(_BATCH)
            if after is not None:
                query = query.where(key > after)
            rows = (await session.execute(query)).all()
            if not rows:
                break
            for row_id, token in rows:
                if box.is_current(token):
                    current += 1
                    continue
                await session.execute(
                    update(table)
                    .where(key == row_id, value == token)
                    .values({column_name: box.rotate(token)})
                )
                rotated += 1
            after = rows[-1][0]
    return RotationCount(rotated=rotated, already_current=current)
