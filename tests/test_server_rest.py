"""The REST API driven with httpx, as any language's client would: Mem0's routes, sharing,
handoff with provenance, the access log and its purge, and JSON errors for every refusal."""

from __future__ import annotations

import asyncio

import httpx

from langmem_plugin import Scope
from langmem_plugin.server.keys import Keyring
from langmem_plugin.server.namespaces import ACCESS_LOG
from langmem_plugin.testing.inspect import stored_bytes

from .serving import bearer, make_key


def client(served: str, key: str | None) -> httpx.Client:
    return httpx.Client(base_url=served, headers=bearer(key) if key else {}, timeout=60)


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}
    return body["error"]["type"]


def test_mem0_routes_round_trip_in_the_keys_own_scope(fast_memory, served):
    key = make_key(fast_memory, "alice-app", "read,write", user_id="alice")
    with client(served, key) as api:
        blocks = [{"type": "text", "text": "My favourite editor is Helix."}]
        added = api.post(
            "/v1/memories", json={"messages": [{"role": "user", "content": blocks}], "infer": False}
        )
        assert added.status_code == 200, added.text
        [item] = added.json()["results"]
        assert item["event"] == "ADD" and item["memory"] == "My favourite editor is Helix."
        memory_id = item["id"]
        hits = api.post("/v1/memories/search", json={"query": "which editor", "limit": 3}).json()["results"]
        assert hits[0]["id"] == memory_id and hits[0]["user_id"] == "alice" and 0 <= hits[0]["score"] <= 1
        assert [m["id"] for m in api.get("/v1/memories").json()["results"]] == [memory_id]
        assert api.get(f"/v1/memories/{memory_id}").json()["memory"] == "My favourite editor is Helix."
        updated = api.put(f"/v1/memories/{memory_id}", json={"text": "My favourite editor is Zed."})
        assert updated.json()["memory"] == "My favourite editor is Zed."
        events = api.get(f"/v1/memories/{memory_id}/history").json()["results"]
        assert [e["event"] for e in events] == ["ADD", "UPDATE"]
        assert api.patch("/v1/profile", json={"values": {"tz": "Europe/Lisbon"}}).json()["profile"] == {
            "tz": "Europe/Lisbon"
        }
        assert api.get("/v1/profile").json() == {
            "scope": {"user_id": "alice"},
            "profile": {"tz": "Europe/Lisbon"},
        }
        assert api.delete(f"/v1/memories/{memory_id}").json()["id"] == memory_id
        assert api.get("/v1/memories").json()["results"] == []
        missing = api.get(f"/v1/memories/{memory_id}")
        assert missing.status_code == 404 and error_of(missing) == "MemoryNotFoundError"
    assert fast_memory.get_all(user_id="alice") == []
    assert [e.event.value for e in fast_memory.history(memory_id)] == ["ADD", "UPDATE", "DELETE"]


def test_an_inferred_add_extracts_facts_in_the_keys_scope(fast_memory, served):
    key = make_key(fast_memory, "alice-app", user_id="alice")
    with client(served, key) as api:
        added = api.post("/v1/memories", json={"messages": "I love green curry and I live in Lisbon"})
    texts = sorted(item["memory"] for item in added.json()["results"])
    assert texts == ["Alice lives in Lisbon.", "Alice loves green curry."]
    assert sorted(r.text for r in fast_memory.get_all(user_id="alice")) == texts


def test_the_openapi_document_lists_every_route_and_the_bearer_scheme(served):
    document = httpx.get(f"{served}/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {
        "/v1/memories",
        "/v1/memories/search",
        "/v1/memories/{memory_id}",
        "/v1/memories/{memory_id}/history",
        "/v1/profile",
        "/v1/handoff",
        "/v1/grants",
        "/v1/grants/{grant_id}",
        "/v1/access-log",
    } <= set(document["paths"])
    assert document["paths"]["/v1/memories/search"]["post"]["responses"]["403"]


def test_unknown_or_mistyped_fields_are_refused_and_nothing_is_stored(fast_memory, served):
    key = make_key(fast_memory, "alice-app", user_id="alice")
    with client(served, key) as api:
        for response in (
            api.post("/v1/memories", json={"messages": "I like tea", "userid": "bob"}),
            api.post("/v1/memories", json={"messages": "I like tea", "user_id": 7}),
            api.get("/v1/memories", params={"userid": "bob"}),
        ):
            assert response.status_code == 422 and error_of(response) == "InvalidInputError"
        empty = api.post("/v1/memories", json={"messages": "   "})
        assert empty.status_code == 400 and error_of(empty) == "EmptyContentError"
        bad_filter = api.get("/v1/memories", params={"filters": "{not json"})
        assert bad_filter.status_code == 400 and error_of(bad_filter) == "InvalidFilterError"
    assert fast_memory.get_all(user_id="alice") == [] and fast_memory.get_all(user_id="bob") == []


def test_a_shared_grant_reads_only_the_memories_with_its_metadata_until_revoked(fast_memory, served):
    alice = make_key(fast_memory, "alice-app", "read,write,share", user_id="alice")
    bob = make_key(fast_memory, "billing-desk")
    with client(served, alice) as api:
        for text, topic in (("Invoice 42 is overdue.", "billing"), ("Alice is allergic to nuts.", "health")):
            api.post("/v1/memories", json={"messages": text, "infer": False, "metadata": {"topic": topic}})
        shared = api.post("/v1/grants", json={"principal": "billing-desk", "filters": {"topic": "billing"}})
        assert shared.status_code == 200, shared.text
        too_much = api.post("/v1/grants", json={"principal": "billing-desk", "rights": ["write"]})
        assert too_much.status_code == 403 and error_of(too_much) == "NotGrantedError"
        health_id = next(
            r.id for r in fast_memory.get_all(user_id="alice") if r.metadata["topic"] == "health"
        )
    with client(served, bob) as desk:
        assert [m["memory"] for m in desk.get("/v1/memories").json()["results"]] == ["Invoice 42 is overdue."]
        found = desk.post("/v1/memories/search", json={"query": "allergic nuts invoice"}).json()["results"]
        assert [m["memory"] for m in found] == ["Invoice 42 is overdue."]
        assert desk.get(f"/v1/memories/{health_id}").status_code == 404
        widen = desk.post("/v1/memories/search", json={"query": "nuts", "filters": {"topic": "health"}})
        assert widen.status_code == 403
        assert desk.post("/v1/memories", json={"messages": "x", "user_id": "alice"}).status_code == 403
        assert desk.get("/v1/profile").status_code == 403
        assert desk.get("/v1/grants").json()["grants"][0]["filters"] == {"topic": "billing"}
    with client(served, alice) as api:
        assert api.delete(f"/v1/grants/{shared.json()['id']}").status_code == 200
    with client(served, bob) as desk:
        refused = desk.get("/v1/memories")
        assert refused.status_code == 403 and error_of(refused) == "NotGrantedError"


def test_handoff_copies_memories_with_their_provenance_once(fast_memory, served):
    triage = Scope(user_id="ana", agent_id="triage")
    fast_memory.add("Ana's router model is X200.", user_id="ana", agent_id="triage", infer=False)
    original = fast_memory.get_all(user_id="ana", agent_id="triage")[0]
    keyring = Keyring(fast_memory.services.kv)
    key, _ = keyring.create_key("dispatcher")
    keyring.grant("dispatcher", [triage], ["read"], "test")
    keyring.grant("dispatcher", [Scope(user_id="ana", agent_id="billing")], ["write"], "test")
    billing = make_key(fast_memory, "billing-bot", "read", user_id="ana", agent_id="billing")
    with client(served, key) as api:
        body = {"memory_ids": [original.id], "to": {"user_id": "ana", "agent_id": "billing"}}
        first = api.post("/v1/handoff", json=body).json()["results"]
        again = api.post("/v1/handoff", json=body).json()["results"]
        into_triage = api.post("/v1/handoff", json={**body, "to": {"user_id": "ana", "agent_id": "triage"}})
        assert into_triage.status_code == 403  # the dispatcher may read triage, not write it
    assert first[0]["event"] == "ADD" and again[0]["event"] == "NOOP" and first[0]["id"] == again[0]["id"]
    assert first[0]["from"] == original.id
    with client(served, billing) as bot:
        [copy] = bot.get("/v1/memories").json()["results"]
        history = bot.get(f"/v1/memories/{copy['id']}/history").json()["results"]
    assert copy["memory"] == original.text and copy["agent_id"] == "billing"
    assert copy["metadata"] == {"handoff_from_memory": original.id, "handoff_from_scope": triage.key()}
    assert copy["sources"] == original.model_dump(mode="json")["sources"]
    assert copy["valid_from"] == original.model_dump(mode="json")["valid_from"]
    assert [(e["event"], e["actor_id"]) for e in history] == [("ADD", "handoff:dispatcher")]


def test_the_access_log_names_who_touched_what_without_text_and_a_purge_erases_it(fast_memory, served):
    alice = make_key(fast_memory, "alice-app", "read,write,forget", user_id="alice")
    bob = make_key(fast_memory, "bob-app", user_id="bob")
    auditor = make_key(fast_memory, "auditor", "admin", user_id="alice")
    with client(served, alice) as api:
        added = api.post("/v1/memories", json={"messages": "Alice drinks oolong", "infer": False}).json()
        api.post("/v1/memories/search", json={"query": "what does alice drink"})
    with client(served, bob) as api:
        api.post("/v1/memories", json={"messages": "Bob drinks espresso", "infer": False})
    memory_id = added["results"][0]["id"]
    with client(served, auditor) as api:
        entries = api.get("/v1/access-log").json()["results"]
        assert api.get("/v1/access-log", params={"user_id": "bob"}).status_code == 403
    assert [(e["principal"], e["action"], e["memory_ids"], e["via"]) for e in entries] == [
        ("alice-app", "search", [memory_id], "rest"),
        ("alice-app", "add", [memory_id], "rest"),
    ]
    assert "oolong" not in str(entries)
    with client(served, alice) as api:
        forgotten = api.delete("/v1/memories", params={"purge": "true"}).json()
    assert forgotten == {"deleted": 1, "purged": True, "scope": {"user_id": "alice"}}
    keys = fast_memory.services.kv.keys(ACCESS_LOG)
    assert keys and all(key.startswith("user_id=bob/") for key in keys)


def test_an_app_key_over_an_agent_reaches_each_user_of_it_and_no_other_agent(fast_memory, served):
    key = make_key(fast_memory, "support-app", "read,write,forget", agent_id="support")
    with client(served, key) as api:
        for user in ("ana", "ben"):
            api.post(
                "/v1/memories",
                json={"messages": f"{user} uses the pro plan", "user_id": user, "infer": False},
            )
        assert len(api.get("/v1/memories").json()["results"]) == 2
        assert len(api.get("/v1/memories", params={"user_id": "ana"}).json()["results"]) == 1
        assert api.get("/v1/memories", params={"agent_id": "sales"}).status_code == 403
        across = api.delete("/v1/memories")
        assert across.status_code == 400 and error_of(across) == "CrossUserDeleteError"
        assert api.delete("/v1/memories", params={"across_users": "true"}).json()["deleted"] == 2
    assert fast_memory.get_all(agent_id="support") == []


def test_a_key_over_several_users_names_one_and_a_read_grant_cannot_write(fast_memory, served):
    keyring = Keyring(fast_memory.services.kv)
    key, _ = keyring.create_key("ops")
    keyring.grant("ops", [Scope(user_id="ana"), Scope(user_id="ben")], ["read", "write"], "test")
    keyring.grant("ops", [Scope(user_id="cy")], ["read"], "test")
    fast_memory.add("Cy likes chess", user_id="cy", infer=False)
    cy_memory = fast_memory.get_all(user_id="cy")[0].id
    with client(served, key) as api:
        ambiguous = api.post("/v1/memories", json={"messages": "hello there friend", "infer": False})
        assert ambiguous.status_code == 400 and error_of(ambiguous) == "MissingScopeError"
        assert (
            api.post(
                "/v1/memories", json={"messages": "Ben rows", "user_id": "ben", "infer": False}
            ).status_code
            == 200
        )
        assert api.get(f"/v1/memories/{cy_memory}").status_code == 200
        refused = api.delete(f"/v1/memories/{cy_memory}")
        assert refused.status_code == 403 and error_of(refused) == "NotGrantedError"
    assert [r.text for r in fast_memory.get_all(user_id="cy")] == ["Cy likes chess"]


async def test_concurrent_async_clients_each_store_in_their_own_scope_exactly_once(fast_memory, served):
    keys = {user: make_key(fast_memory, f"{user}-app", user_id=user) for user in ("u0", "u1", "u2", "u3")}

    async def write(user: str, index: int) -> int:
        async with httpx.AsyncClient(base_url=served, headers=bearer(keys[user]), timeout=60) as api:
            body = {"messages": f"{user} note {index}", "infer": False}
            return (await api.post("/v1/memories", json=body)).status_code

    statuses = await asyncio.gather(*(write(user, i) for user in keys for i in range(6)))
    assert statuses == [200] * 24
    for user in keys:
        assert sorted(r.text for r in fast_memory.get_all(user_id=user)) == sorted(
            f"{user} note {i}" for i in range(6)
        )


def test_a_purge_leaves_no_byte_of_what_the_access_log_recorded(fast_memory, served):
    """The access log holds memory ids and the scope; after `delete_all(purge=True)` no file of
    the store holds them (its grants, which name the user, are the operator's to revoke)."""
    key = make_key(fast_memory, "zed-app", user_id="zed")
    with client(served, key) as api:
        added = api.post("/v1/memories", json={"messages": "Zed collects old radios", "infer": False}).json()
        memory_id = added["results"][0]["id"]
        api.post("/v1/memories/search", json={"query": "radios"})
        api.get(f"/v1/memories/{memory_id}")
    assert fast_memory.services.kv.keys(ACCESS_LOG, "user_id=zed/")
    fast_memory.delete_all(user_id="zed", purge=True)
    assert fast_memory.services.kv.keys(ACCESS_LOG) == []
    stored = stored_bytes(fast_memory.config)
    leftovers = [name for name, data in stored.items() if memory_id.encode() in data]
    assert leftovers == []
