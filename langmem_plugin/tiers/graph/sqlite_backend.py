"""Embedded graph tier on SQLite: two tables and a recursive CTE for neighbourhoods.

Why SQLite: it ships with Python, it is crash-safe and multi-process safe in WAL mode, and 1-2 hop
walks over a per-user graph are small joins. Kuzu, the usual embedded graph engine, is archived.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from pathlib import Path

from ...records import Entity, Neighbourhood, Relation, Scope, utc_now
from ..capabilities import Capabilities
from ..sqlite_common import (
    ManifestRow,
    open_sqlite,
    raise_typed_sqlite_errors,
    rewrite_without_deleted,
    scope_clause,
    write_transaction,
)
from ..timestamps import from_epoch, to_epoch
from .base import EntityMention, RelationMention, normalize_name, relation_type

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entities (
    id TEXT PRIMARY KEY,
    scope_key TEXT NOT NULL,
    user_id TEXT, agent_id TEXT, run_id TEXT,
    name TEXT NOT NULL, normalized_name TEXT NOT NULL, type TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (scope_key, normalized_name)
);
CREATE INDEX IF NOT EXISTS entities_user ON entities (user_id, agent_id, run_id);
CREATE INDEX IF NOT EXISTS entities_agent ON entities (agent_id, run_id);
CREATE INDEX IF NOT EXISTS entities_run ON entities (run_id);
CREATE TABLE IF NOT EXISTS relations (
    id TEXT PRIMARY KEY,
    user_id TEXT, agent_id TEXT, run_id TEXT,
    source_id TEXT NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    relation TEXT NOT NULL,
    target_id TEXT NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    memory_id TEXT,
    valid_from REAL NOT NULL, valid_to REAL
);
CREATE INDEX IF NOT EXISTS relations_source ON relations (source_id);
CREATE INDEX IF NOT EXISTS relations_target ON relations (target_id);
CREATE INDEX IF NOT EXISTS relations_memory ON relations (memory_id);
"""

_RELATION_COLUMNS = (
    "id, user_id, agent_id, run_id, source_id, relation, target_id, memory_id, valid_from, valid_to"
)
_ENTITY_COLUMNS = "id, user_id, agent_id, run_id, name, normalized_name, type, created_at"


def _relation(row: tuple) -> Relation:
    rid, user_id, agent_id, run_id, source, label, target, memory_id, valid_from, valid_to = row
    return Relation(
        id=rid,
        source_id=source,
        relation=label,
        target_id=target,
        scope=Scope(user_id=user_id, agent_id=agent_id, run_id=run_id),
        memory_id=memory_id,
        valid_from=from_epoch(valid_from),
        valid_to=from_epoch(valid_to),
    )


def _entity(row: tuple) -> Entity:
    eid, user_id, agent_id, run_id, name, normalized, kind, created = row
    return Entity(
        id=eid,
        name=name,
        normalized_name=normalized,
        type=kind,
        scope=Scope(user_id=user_id, agent_id=agent_id, run_id=run_id),
        created_at=from_epoch(created),
    )


@raise_typed_sqlite_errors
class SQLiteGraphStore(ManifestRow):
    capabilities = Capabilities(manifest=True)

    def __init__(self, path: str | Path, synchronous: str = "FULL"):
        self._path = Path(path)
        self._conn = open_sqlite(self._path, synchronous)
        self._lock = threading.RLock()
        with write_transaction(self._conn):
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._conn.execute(statement)
        # Scopes seen without entities: every search asks the graph, and most scopes have none
        # until the memory manager extracts some. Forgotten on our own additions, and whenever
        # another process commits (`PRAGMA data_version` changes).
        self._without_entities: set[Scope] = set()
        self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]

    def _has_no_entities(self, scope: Scope) -> bool:
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._without_entities.clear()
            self._data_version = version
        if scope in self._without_entities:
            return True
        clause, params = scope_clause(scope.required_filter(), "e")
        if self._conn.execute(f"SELECT 1 FROM entities e WHERE {clause} LIMIT 1", params).fetchone() is None:
            self._without_entities.add(scope)
            return True
        return False

    def _entity_id(self, scope: Scope, mention: EntityMention) -> str:
        normalized = normalize_name(mention.name)
        row = self._conn.execute(
            "SELECT id FROM entities WHERE scope_key = ? AND normalized_name = ?", (scope.key(), normalized)
        ).fetchone()
        if row:
            return row[0]
        entity_id = str(uuid.uuid4())
        self._conn.execute(
            f"INSERT INTO entities (scope_key, {_ENTITY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                scope.key(),
                entity_id,
                scope.user_id,
                scope.agent_id,
                scope.run_id,
                mention.name.strip(),
                normalized,
                mention.type,
                to_epoch(utc_now()),
            ),
        )
        return entity_id

    def add_relations(self, scope: Scope, mentions: list[RelationMention]) -> list[Relation]:
        scope.required_filter()
        added = []
        with self._lock, write_transaction(self._conn):
            self._without_entities.clear()
            for mention in mentions:
                relation = Relation(
                    id=mention.id or str(uuid.uuid4()),
                    source_id=self._entity_id(scope, mention.source),
                    relation=relation_type(mention.relation),
                    target_id=self._entity_id(scope, mention.target),
                    scope=scope,
                    memory_id=mention.memory_id,
                    valid_from=mention.valid_from,
                )
                self._conn.execute(  # a relation stored already (a retried write) is open again
                    f"INSERT INTO relations ({_RELATION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (id) DO UPDATE SET valid_to = NULL",
                    (
                        relation.id,
                        scope.user_id,
                        scope.agent_id,
                        scope.run_id,
                        relation.source_id,
                        relation.relation,
                        relation.target_id,
                        relation.memory_id,
                        to_epoch(relation.valid_from),
                        None,
                    ),
                )
                added.append(relation)
        return added

    def _memory_relation_rows(self, memory_ids: list[str], open_only: bool) -> list[tuple]:
        marks = ",".join("?" * len(memory_ids))
        condition = " AND valid_to IS NULL" if open_only else ""
        return self._conn.execute(
            f"SELECT {_RELATION_COLUMNS} FROM relations WHERE memory_id IN ({marks}){condition}", memory_ids
        ).fetchall()

    def invalidate_memory_relations(self, memory_ids: list[str], at: datetime) -> list[Relation]:
        if not memory_ids:
            return []
        with self._lock, write_transaction(self._conn):
            rows = self._memory_relation_rows(memory_ids, open_only=True)
            self._conn.executemany(
                "UPDATE relations SET valid_to = ? WHERE id = ?", [(to_epoch(at), r[0]) for r in rows]
            )
        return [_relation(r).model_copy(update={"valid_to": at}) for r in rows]

    def delete_memory_relations(self, memory_ids: list[str]) -> None:
        if not memory_ids:
            return
        with self._lock, write_transaction(self._conn):
            marks = ",".join("?" * len(memory_ids))
            self._conn.execute(f"DELETE FROM relations WHERE memory_id IN ({marks})", memory_ids)
            self._delete_orphan_entities()

    def _delete_orphan_entities(self) -> None:
        self._conn.execute(
            "DELETE FROM entities WHERE NOT EXISTS "
            "(SELECT 1 FROM relations r WHERE r.source_id = entities.id OR r.target_id = entities.id)"
        )

    def entities(self, scope: Scope) -> list[Entity]:
        scope.required_filter()
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_ENTITY_COLUMNS} FROM entities WHERE scope_key = ? ORDER BY name", (scope.key(),)
            ).fetchall()
        return [_entity(r) for r in rows]

    def may_have_entities(self, scope: Scope) -> bool:
        scope.required_filter()
        with self._lock:
            return not self._has_no_entities(scope)

    def neighbourhood(
        self, scope: Scope, names: list[str], *, hops: int = 1, as_of: datetime | None = None
    ) -> Neighbourhood:
        clause, params = scope_clause(scope.required_filter(), "e")
        with self._lock:
            if self._has_no_entities(scope):
                return Neighbourhood(entities=[], relations=[])
        relation_clause, relation_params = scope_clause(scope.as_filter(), "r")
        if as_of is None:
            validity, validity_params = "r.valid_to IS NULL", []
        else:
            validity = "r.valid_from <= ? AND (r.valid_to IS NULL OR r.valid_to > ?)"
            validity_params = [to_epoch(as_of), to_epoch(as_of)]
        normalized = [normalize_name(n) for n in names if n and n.strip()]
        if not normalized:
            return Neighbourhood(entities=[], relations=[])
        with self._lock:
            walk = self._conn.execute(
                f"""
                WITH RECURSIVE walk(entity_id, depth) AS (
                    SELECT e.id, 0 FROM entities e
                    WHERE {clause} AND e.normalized_name IN ({",".join("?" * len(normalized))})
                    UNION
                    SELECT CASE WHEN r.source_id = w.entity_id THEN r.target_id ELSE r.source_id END,
                           w.depth + 1
                    FROM walk w JOIN relations r ON (r.source_id = w.entity_id OR r.target_id = w.entity_id)
                    WHERE w.depth < ? AND {relation_clause} AND {validity}
                )
                SELECT DISTINCT entity_id FROM walk
                """,
                (*params, *normalized, hops, *relation_params, *validity_params),
            ).fetchall()
            entity_ids = [r[0] for r in walk]
            if not entity_ids:
                return Neighbourhood(entities=[], relations=[])
            marks = ",".join("?" * len(entity_ids))
            entities = self._conn.execute(
                f"SELECT {_ENTITY_COLUMNS} FROM entities WHERE id IN ({marks}) ORDER BY name", entity_ids
            ).fetchall()
            relations = self._conn.execute(
                f"SELECT {', '.join('r.' + c.strip() for c in _RELATION_COLUMNS.split(','))} "
                f"FROM relations r WHERE r.source_id IN ({marks}) AND r.target_id IN ({marks}) "
                f"AND {relation_clause} AND {validity} "
                "ORDER BY r.valid_from",
                (*entity_ids, *entity_ids, *relation_params, *validity_params),
            ).fetchall()
        return Neighbourhood(
            entities=[_entity(e) for e in entities], relations=[_relation(r) for r in relations]
        )

    def delete_scope(self, scope: Scope) -> None:
        clause, params = scope_clause(scope.required_filter())
        with self._lock, write_transaction(self._conn):
            self._conn.execute(f"DELETE FROM relations WHERE {clause}", params)
            self._conn.execute(f"DELETE FROM entities WHERE {clause}", params)

    def erase_deleted(self) -> None:
        """Rewrite the file without any copy of a deleted row, and empty the WAL."""
        with self._lock:
            rewrite_without_deleted(self._conn)

    def reset(self) -> None:
        with self._lock, write_transaction(self._conn):
            self._conn.execute("DELETE FROM relations")
            self._conn.execute("DELETE FROM entities")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
