"""Graph tier on Neo4j (official `neo4j` driver), for graphs that outgrow one machine.

Every query is parameterised: values from users never become Cypher text. Relationship types
cannot be parameters in Cypher, so all relations share the type LANGMEM_RELATION and carry
their label in the `relation` property. Constraints and indexes are created idempotently.
Entity matching by embedding happens in the pipeline (identically for every backend).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from ...errors import ConfigurationError, InvalidInputError, install_hint
from ...records import Entity, Neighbourhood, Relation, Scope, utc_now
from ..capabilities import Capabilities
from ..failures import ServerBackend, reports_failures, server_address
from ..timestamps import from_epoch, to_epoch
from .base import RelationMention, normalize_name, relation_type

_SCHEMA = [
    "CREATE CONSTRAINT langmem_entity_id IF NOT EXISTS FOR (e:LangmemEntity) REQUIRE e.id IS UNIQUE",
    "CREATE CONSTRAINT langmem_entity_name IF NOT EXISTS FOR (e:LangmemEntity) "
    "REQUIRE (e.scope_key, e.normalized_name) IS UNIQUE",
    "CREATE INDEX langmem_entity_user IF NOT EXISTS FOR (e:LangmemEntity) ON (e.user_id)",
    "CREATE INDEX langmem_relation_memory IF NOT EXISTS FOR ()-[r:LANGMEM_RELATION]-() ON (r.memory_id)",
]
_SCOPE_FIELDS = ("user_id", "agent_id", "run_id")


def _scope_condition(variable: str, scope_filter: dict[str, str]) -> str:
    """`v.user_id = $user_id AND ...`: field names come from Scope, values stay parameters."""
    return " AND ".join(f"{variable}.{field} = ${field}" for field in scope_filter)


def _validity(variable: str, as_of: datetime | None) -> str:
    if as_of is None:
        return f"{variable}.valid_to IS NULL"
    return (
        f"{variable}.valid_from <= $as_of AND ({variable}.valid_to IS NULL OR {variable}.valid_to > $as_of)"
    )


def _relation(record) -> Relation:
    r = record["r"]
    return Relation(
        id=r["id"],
        source_id=record["source"],
        relation=r["relation"],
        target_id=record["target"],
        scope=Scope(**{f: r.get(f) for f in _SCOPE_FIELDS}),
        memory_id=r.get("memory_id"),
        valid_from=from_epoch(r["valid_from"]),
        valid_to=from_epoch(r.get("valid_to")),
    )


def _entity(node) -> Entity:
    return Entity(
        id=node["id"],
        name=node["name"],
        normalized_name=node["normalized_name"],
        type=node["type"],
        scope=Scope(**{f: node.get(f) for f in _SCOPE_FIELDS}),
        created_at=from_epoch(node["created_at"]),
    )


_RELATION_RETURN = "RETURN r, s.id AS source, t.id AS target"


def _failures() -> tuple[type[BaseException], ...]:
    from neo4j.exceptions import DriverError, Neo4jError

    return (Neo4jError, DriverError, OSError)


@reports_failures("Neo4j", _failures)
class Neo4jGraphStore(ServerBackend):
    capabilities = Capabilities()

    def __init__(
        self,
        uri: str,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        *,
        retry_seconds: float = 30.0,
    ):
        """`retry_seconds`: how long the driver retries a query while the server is unreachable
        or a cluster elects a leader, before the call fails with `BackendError`."""
        try:
            import neo4j
        except ImportError as exc:
            raise ConfigurationError(
                f"the neo4j graph backend needs the neo4j package: {install_hint('neo4j')}"
            ) from exc
        self.backend_address = server_address(uri)
        self.backend_secrets = (password,) if password else ()
        self._driver = neo4j.GraphDatabase.driver(
            uri,
            auth=(user, password or "") if user else None,
            notifications_min_severity="OFF",
            max_transaction_retry_time=retry_seconds,
        )
        self._database = database
        try:
            self._driver.verify_connectivity()
            for statement in _SCHEMA:
                self._run(statement)
        except BaseException:
            self._driver.close()
            raise

    def _run(self, query: str, **parameters):
        records, _, _ = self._driver.execute_query(query, parameters, database_=self._database)
        return records

    def add_relations(self, scope: Scope, mentions: list[RelationMention]) -> list[Relation]:
        scope.required_filter()
        ids = {f: getattr(scope, f) for f in _SCOPE_FIELDS}
        rows = [
            {
                "source_name": mention.source.name.strip(),
                "source_normalized": normalize_name(mention.source.name),
                "source_type": mention.source.type,
                "source_id": str(uuid.uuid4()),
                "target_name": mention.target.name.strip(),
                "target_normalized": normalize_name(mention.target.name),
                "target_type": mention.target.type,
                "target_id": str(uuid.uuid4()),
                "id": mention.id or str(uuid.uuid4()),
                "relation": relation_type(mention.relation),
                "memory_id": mention.memory_id,
                "valid_from": to_epoch(mention.valid_from),
            }
            for mention in mentions
        ]
        if not rows:
            return []
        records = self._run(
            """
            UNWIND $rows AS row
            MERGE (s:LangmemEntity {scope_key: $scope_key, normalized_name: row.source_normalized})
              ON CREATE SET s.id = row.source_id, s.name = row.source_name, s.type = row.source_type,
                            s.user_id = $user_id, s.agent_id = $agent_id, s.run_id = $run_id,
                            s.created_at = $now
            MERGE (t:LangmemEntity {scope_key: $scope_key, normalized_name: row.target_normalized})
              ON CREATE SET t.id = row.target_id, t.name = row.target_name, t.type = row.target_type,
                            t.user_id = $user_id, t.agent_id = $agent_id, t.run_id = $run_id,
                            t.created_at = $now
            MERGE (s)-[r:LANGMEM_RELATION {id: row.id}]->(t)
              ON CREATE SET r.relation = row.relation, r.memory_id = row.memory_id,
                            r.valid_from = row.valid_from,
                            r.user_id = $user_id, r.agent_id = $agent_id, r.run_id = $run_id
              ON MATCH SET r.valid_to = null
            """
            + _RELATION_RETURN,
            rows=rows,
            scope_key=scope.key(),
            now=to_epoch(utc_now()),
            **ids,
        )
        return [_relation(r) for r in records]

    def invalidate_memory_relations(self, memory_ids: list[str], at: datetime) -> list[Relation]:
        if not memory_ids:
            return []
        records = self._run(
            "MATCH (s)-[r:LANGMEM_RELATION]->(t) WHERE r.memory_id IN $ids AND r.valid_to IS NULL "
            "SET r.valid_to = $at " + _RELATION_RETURN,
            ids=memory_ids,
            at=to_epoch(at),
        )
        return [_relation(r) for r in records]

    def delete_memory_relations(self, memory_ids: list[str]) -> None:
        if not memory_ids:
            return
        self._run("MATCH ()-[r:LANGMEM_RELATION]->() WHERE r.memory_id IN $ids DELETE r", ids=memory_ids)
        self._run("MATCH (e:LangmemEntity) WHERE NOT (e)--() DELETE e")

    def entities(self, scope: Scope) -> list[Entity]:
        scope.required_filter()
        records = self._run(
            "MATCH (e:LangmemEntity {scope_key: $scope_key}) RETURN e ORDER BY e.name", scope_key=scope.key()
        )
        return [_entity(r["e"]) for r in records]

    def may_have_entities(self, scope: Scope) -> bool:
        """Always True: asking the server would cost search a round trip, as much as `neighbourhood`
        itself."""
        scope.required_filter()
        return True

    def neighbourhood(
        self, scope: Scope, names: list[str], *, hops: int = 1, as_of: datetime | None = None
    ) -> Neighbourhood:
        scope_filter = scope.required_filter()
        if hops not in (1, 2):
            raise InvalidInputError(f"hops must be 1 or 2, got {hops!r}")
        normalized = [normalize_name(n) for n in names if n and n.strip()]
        if not normalized:
            return Neighbourhood(entities=[], relations=[])
        parameters = {**scope_filter, "names": normalized, "as_of": to_epoch(as_of)}
        walk = self._run(
            f"""
            MATCH (start:LangmemEntity)
              WHERE start.normalized_name IN $names AND {_scope_condition("start", scope_filter)}
            OPTIONAL MATCH (start)-[rels:LANGMEM_RELATION*1..{int(hops)}]-(other:LangmemEntity)
              WHERE all(r IN rels WHERE {_scope_condition("r", scope_filter)} AND {_validity("r", as_of)})
            RETURN collect(DISTINCT start.id) + collect(DISTINCT other.id) AS ids
            """,
            **parameters,
        )
        entity_ids = sorted({i for i in walk[0]["ids"] if i is not None}) if walk else []
        if not entity_ids:
            return Neighbourhood(entities=[], relations=[])
        entities = self._run(
            "MATCH (e:LangmemEntity) WHERE e.id IN $ids RETURN e ORDER BY e.name", ids=entity_ids
        )
        relations = self._run(
            "MATCH (s:LangmemEntity)-[r:LANGMEM_RELATION]->(t:LangmemEntity) "
            "WHERE s.id IN $ids AND t.id IN $ids "
            f"AND {_scope_condition('r', scope_filter)} AND {_validity('r', as_of)} "
            + _RELATION_RETURN
            + " ORDER BY r.valid_from",
            ids=entity_ids,
            **parameters,
        )
        return Neighbourhood(
            entities=[_entity(e["e"]) for e in entities], relations=[_relation(r) for r in relations]
        )

    def delete_scope(self, scope: Scope) -> None:
        scope_filter = scope.required_filter()
        self._run(
            f"MATCH ()-[r:LANGMEM_RELATION]->() WHERE {_scope_condition('r', scope_filter)} DELETE r",
            **scope_filter,
        )
        self._run(
            f"MATCH (e:LangmemEntity) WHERE {_scope_condition('e', scope_filter)} DETACH DELETE e",
            **scope_filter,
        )

    def erase_deleted(self) -> None:
        """Deleted nodes and relationships are gone from every query at once; the server's
        transaction logs keep them until its own log rotation (`db.tx_log.rotation.retention_policy`)."""

    def reset(self) -> None:
        self._run("MATCH (e:LangmemEntity) DETACH DELETE e")

    def close(self) -> None:
        self._driver.close()
