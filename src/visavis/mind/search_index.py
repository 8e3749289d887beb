"""The full-text indexes of twin memory, which live beside the models (not in them).

SQLite keeps an FTS5 table filled by triggers; PostgreSQL a generated ``tsvector`` column
with a GIN index. Neither is an ORM column, so the schema comparison skips these names.
"""

from __future__ import annotations

FTS_TABLE = "memory_items_fts"
#: SQLite: the FTS5 row of each item, set by the insert trigger.
FTS_ROWID_COLUMN = "search_rowid"
#: PostgreSQL: the generated ``tsvector`` of ``search_text``.
TSVECTOR_COLUMN = "search_vector"
TSVECTOR_INDEX = "ix_memory_items_search_vector"
FTS_ROWID_INDEX = "ix_memory_items_search_rowid"
#: The text search configuration on PostgreSQL (stemming and stop words of English).
PG_TS_CONFIG = "english"


def is_unmodelled(name: str | None) -> bool:
    """True for the index objects the ORM models leave out on purpose."""
    if name is None:
        return False
    return name.startswith(FTS_TABLE) or name in (
        FTS_ROWID_COLUMN,
        TSVECTOR_COLUMN,
        TSVECTOR_INDEX,
        FTS_ROWID_INDEX,
    )


def sqlite_create_sql() -> list[str]:
    """The FTS5 table and the triggers that keep it equal to ``memory_items.search_text``."""
    return [
        f"ALTER TABLE memory_items ADD COLUMN {FTS_ROWID_COLUMN} INTEGER",
        f"CREATE INDEX {FTS_ROWID_INDEX} ON memory_items ({FTS_ROWID_COLUMN})",
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
        "search_text, twin_id UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2')",
        f"""CREATE TRIGGER memory_items_fts_insert AFTER INSERT ON memory_items BEGIN
  INSERT INTO {FTS_TABLE}(search_text, twin_id) VALUES (new.search_text, new.twin_id);
  UPDATE memory_items SET {FTS_ROWID_COLUMN} = last_insert_rowid() WHERE id = new.id;
END""",  # noqa: S608 - constants only
        f"""CREATE TRIGGER memory_items_fts_update AFTER UPDATE OF search_text ON memory_items
BEGIN
  UPDATE {FTS_TABLE} SET search_text = new.search_text WHERE rowid = old.{FTS_ROWID_COLUMN};
END""",  # noqa: S608 - constants only
        f"""CREATE TRIGGER memory_items_fts_delete AFTER DELETE ON memory_items BEGIN
  DELETE FROM {FTS_TABLE} WHERE rowid = old.{FTS_ROWID_COLUMN};
END""",  # noqa: S608 - constants only
    ]


def sqlite_drop_sql() -> list[str]:
    """The reverse of :func:`sqlite_create_sql` (the table itself is dropped after)."""
    return [
        "DROP TRIGGER IF EXISTS memory_items_fts_delete",
        "DROP TRIGGER IF EXISTS memory_items_fts_update",
        "DROP TRIGGER IF EXISTS memory_items_fts_insert",
        f"DROP TABLE IF EXISTS {FTS_TABLE}",
    ]


def postgres_create_sql() -> list[str]:
    """The generated ``tsvector`` column and its GIN index."""
    return [
        f"ALTER TABLE memory_items ADD COLUMN {TSVECTOR_COLUMN} tsvector "
        f"GENERATED ALWAYS AS (to_tsvector('{PG_TS_CONFIG}', search_text)) STORED",
        # Memory is read far more than written: no pending list for searches to wade through.
        f"CREATE INDEX {TSVECTOR_INDEX} ON memory_items USING gin ({TSVECTOR_COLUMN}) "
        "WITH (fastupdate = off)",
    ]


def postgres_drop_sql() -> list[str]:
    """The reverse of :func:`postgres_create_sql`."""
    return [
        f"DROP INDEX IF EXISTS {TSVECTOR_INDEX}",
        f"ALTER TABLE memory_items DROP COLUMN IF EXISTS {TSVECTOR_COLUMN}",
    ]
