"""The security suite: every REST route and every MCP tool and resource, tried with no key, a
wrong key, another user's key and forged ids, by real clients (httpx; the official MCP client).

Each attempt must be refused (401 for no or a wrong key; 403, 404 or a refused input for
another user's key and forged ids), its answer must hold nothing of the victim's (memory text,
ids it did not send, profile values, grant ids), and the store must be byte for byte what it
was. The tables must cover every route and tool the app has; a control run then shows that the
same calls with the victim's own key succeed, so each refusal came from the grants.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from mcp.shared.exceptions import McpError

from langmem_plugin import Memory, Scope
from langmem_plugin.server.app import MCP_PATH
from langmem_plugin.server.keys import Keyring
from langmem_plugin.testing.inspect import stored_bytes

from .helpers import HashingEmbeddings
from .serving import bearer, http_statuses, mcp_session, serving

ALICE_TEXTS = ["Alice's passport number is X1234567", "Alice's doctor is Dr Okafor"]
ALICE_SUPPORT_TEXT = "Alice's support case number is 9911"
PROFILE_SECRET = "alice-secret-tz"
WRONG_AUTHORIZATIONS = [
    "Bearer lmk_0123456789abcdef_" + "A" * 43,  # well formed, unknown
    "Bearer not-a-key",
    "Basic YWxpY2U6cGFzc3dvcmQ=",
    "Bearer",  # the scheme without a key
]
REFUSED = {400, 403, 404, 422}  # another user's key or forged ids (401: no or a wrong key)
ATTACKS = ("no key", "wrong key", "another user's key", "forged ids")
COUNTED = ("attempts", "refused", "read", "written")


@dataclass
class Victim:
    """What the attacks must neither read nor change."""

    memory_ids: list[str]
    support_id: str
    grant_id: str
    alice_key: str
    bob_key: str
    bob_memory: str
    secrets: list[str] = field(default_factory=list)

    def leaked(self, answer: str, sent: str) -> list[str]:
        """Secrets in an answer that the request did not carry itself."""
        return [secret for secret in self.secrets if secret in answer and secret not in sent]


@contextmanager
def scenario(path: Path):
    """Alice's memories (two of her own, one with the support agent), her profile, and her key
    (admin over user alice); Bob's memory and key (read, write, forget, share over user bob);
    the app serving them."""
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        for text in ALICE_TEXTS:
            memory.add(text, user_id="alice", infer=False)
        memory.add(ALICE_SUPPORT_TEXT, user_id="alice", agent_id="support", infer=False)
        memory.set_profile({"tz": PROFILE_SECRET}, user_id="alice")
        memory.add("Bob likes kayaks", user_id="bob", infer=False)
        keyring = Keyring(memory.services.kv)
        alice_key, _ = keyring.create_key("alice-app")
        grant = keyring.grant("alice-app", [Scope(user_id="alice")], ["admin"], "test")
        bob_key, _ = keyring.create_key("bob-app")
        keyring.grant("bob-app", [Scope(user_id="bob")], ["read", "write", "forget", "share"], "test")
        ids = [r.id for r in memory.get_all(user_id="alice", limit=10) if r.scope.agent_id is None]
        support = memory.get_all(user_id="alice", agent_id="support")[0].id
        victim = Victim(
            memory_ids=ids,
            support_id=support,
            grant_id=grant.id,
            alice_key=alice_key,
            bob_key=bob_key,
            bob_memory=memory.get_all(user_id="bob")[0].id,
        )
        victim.secrets = [*ALICE_TEXTS, ALICE_SUPPORT_TEXT, PROFILE_SECRET, *ids, support, grant.id]
        with serving(memory) as url:
            yield memory, url, victim


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One scenario for all attacks: none of them may change it."""
    with scenario(tmp_path_factory.mktemp("security") / "store") as served:
        yield served


@pytest.fixture
def fresh_store(tmp_path):
    with scenario(tmp_path / "store") as served:
        yield served


@dataclass
class Tally:
    """Per attack: the attempts, how many were refused, and how many read or wrote anything. The
    suite prints it as one line (`pytest -rP`) and records it as a property of the test
    (`--junitxml`), so the closing figures come from a command."""

    door: str
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {attack: dict.fromkeys(COUNTED, 0) for attack in ATTACKS}
    )

    def count(self, attack: str, refused: bool, read: bool, written: bool) -> None:
        row = self.counts[attack]
        row["attempts"] += 1
        row["refused"] += refused
        row["read"] += read
        row["written"] += written

    def total(self) -> dict[str, int]:
        return {name: sum(row[name] for row in self.counts.values()) for name in COUNTED}

    def report(self, record_property: Callable[[str, str], None]) -> None:
        summary = {"door": self.door, "total": self.total(), "by_attack": self.counts}
        print(f"\nsecurity suite counts: {json.dumps(summary)}")
        record_property("security_counts", json.dumps(summary))

    def held(self) -> bool:
        """Every kind of attack was tried, each attempt was refused, none read or wrote."""
        total = self.total()
        tried = all(row["attempts"] for row in self.counts.values())
        return tried and total["attempts"] == total["refused"] and total["read"] == total["written"] == 0


def snapshot(memory: Memory) -> dict[str, bytes]:
    """Every byte the store holds, but SQLite's shared-memory index, which readers update."""
    return {name: data for name, data in stored_bytes(memory.config).items() if not name.endswith("-shm")}


# -- REST --------------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    raw: str | None = None  # a body sent as written (duplicate keys)

    def send(self, api: httpx.Client, headers: dict[str, str]) -> httpx.Response:
        content = self.raw if self.raw is not None else None if self.body is None else json.dumps(self.body)
        kind = {"Content-Type": "application/json"} if content is not None else {}
        return api.request(
            self.method, self.path, params=self.params, content=content, headers={**headers, **kind}
        )

    def sent(self) -> str:
        return json.dumps([self.path, self.params, self.body, self.raw])


ALICE = {"user_id": "alice"}
FORGED_IDS = [
    {"user_id": "alice"},
    {"user_id": "alice", "agent_id": "support"},
    {"user_id": "Alice"},
    {"user_id": "bob|user_id=alice"},
    {"user_id": 'ns:["memories","alice"]'},
]


def _body_calls(method: str, path: str, body: dict) -> Callable[[Victim, bool], list[Call]]:
    """A route whose ids travel in the body: alice's own call, or bob's forged ones (the ids
    forged in the body, in the query string, twice in one body)."""

    def calls(victim: Victim, forged: bool) -> list[Call]:
        if not forged:
            return [Call(method, path, body={**body, **ALICE})]
        raw = json.dumps({**body, "user_id": "bob"})[:-1] + ', "user_id": "alice"}'
        return [
            *(Call(method, path, body={**body, **ids}) for ids in FORGED_IDS),
            Call(method, path, params=ALICE, body=body),
            Call(method, path, raw=raw),
        ]

    return calls


def _query_calls(method: str, path: str, params: dict | None = None) -> Callable[[Victim, bool], list[Call]]:
    def calls(victim: Victim, forged: bool) -> list[Call]:
        if not forged:
            return [Call(method, path, params={**(params or {}), **ALICE})]
        return [Call(method, path, params={**(params or {}), **ids}) for ids in FORGED_IDS]

    return calls


def _by_id(method: str, suffix: str = "", body: dict | None = None) -> Callable[[Victim, bool], list[Call]]:
    """A route naming one of alice's memories: bob sends it bare, or claims it with ids."""

    def calls(victim: Victim, forged: bool) -> list[Call]:
        paths = [
            f"/v1/memories/{memory_id}{suffix}" for memory_id in (victim.memory_ids[0], victim.support_id)
        ]
        if not forged:
            return [Call(method, path, body=body) for path in paths]
        claims = [{"user_id": "bob"}, {"agent_id": "support"}, *FORGED_IDS]
        if body is None:
            return [Call(method, path, params=ids) for path in paths for ids in claims]
        return [Call(method, path, body={**body, **ids}) for path in paths for ids in claims]

    return calls


def _handoff(victim: Victim, forged: bool) -> list[Call]:
    into_bob = {"memory_ids": [victim.memory_ids[0]], "to": {"user_id": "bob"}}
    if not forged:
        return [Call("POST", "/v1/handoff", body=into_bob)]
    into_alice = {"memory_ids": [victim.bob_memory], "to": {"user_id": "alice"}}
    mixed = {"memory_ids": [victim.bob_memory, victim.support_id], "to": {"user_id": "bob", "agent_id": "x"}}
    return [Call("POST", "/v1/handoff", body=b) for b in (into_bob, into_alice, mixed)]


def _share(victim: Victim, forged: bool) -> list[Call]:
    body = {"principal": "bob-app", "rights": ["read"]}
    if not forged:
        return [Call("POST", "/v1/grants", body={**body, **ALICE})]
    return [Call("POST", "/v1/grants", body={**body, **ids}) for ids in FORGED_IDS]


def _revoke(victim: Victim, forged: bool) -> list[Call]:
    return [Call("DELETE", f"/v1/grants/{victim.grant_id}")]


def _own_grants(victim: Victim, forged: bool) -> list[Call]:
    # bob's own grants are his to read: only the anonymous and wrong-key attempts apply
    return [] if forged else [Call("GET", "/v1/grants")]


REST_TABLE: dict[tuple[str, str], Callable[[Victim, bool], list[Call]]] = {
    ("POST", "/v1/memories"): _body_calls(
        "POST", "/v1/memories", {"messages": "I am bob now", "infer": False}
    ),
    ("GET", "/v1/memories"): _query_calls("GET", "/v1/memories"),
    ("DELETE", "/v1/memories"): _query_calls("DELETE", "/v1/memories", {"purge": "true"}),
    ("POST", "/v1/memories/search"): _body_calls("POST", "/v1/memories/search", {"query": "passport"}),
    ("GET", "/v1/memories/{memory_id}"): _by_id("GET"),
    ("PUT", "/v1/memories/{memory_id}"): _by_id("PUT", body={"text": "overwritten by bob"}),
    ("DELETE", "/v1/memories/{memory_id}"): _by_id("DELETE"),
    ("GET", "/v1/memories/{memory_id}/history"): _by_id("GET", "/history"),
    ("GET", "/v1/profile"): _query_calls("GET", "/v1/profile"),
    ("PATCH", "/v1/profile"): _body_calls("PATCH", "/v1/profile", {"values": {"tz": "bob-was-here"}}),
    ("POST", "/v1/handoff"): _handoff,
    ("GET", "/v1/grants"): _own_grants,
    ("POST", "/v1/grants"): _share,
    ("DELETE", "/v1/grants/{grant_id}"): _revoke,
    ("GET", "/v1/access-log"): _query_calls("GET", "/v1/access-log"),
}


def _app_routes(url: str) -> set[tuple[str, str]]:
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    routes = {(method.upper(), path) for path, methods in paths.items() for method in methods}
    return routes - {("GET", "/v1/health")}


def test_every_rest_route_refuses_every_attack_reads_nothing_and_writes_nothing(store, record_property):
    memory, url, victim = store
    assert set(REST_TABLE) == _app_routes(url), "a route without a row in the security table"
    before = snapshot(memory)
    tally = Tally("REST")
    failures = []
    with httpx.Client(base_url=url, timeout=60) as api:
        for route, calls in REST_TABLE.items():
            attempts = [
                *(("no key", {}, call) for call in calls(victim, False)),
                *(
                    ("wrong key", {"Authorization": a}, c)
                    for a in WRONG_AUTHORIZATIONS
                    for c in calls(victim, False)
                ),
                *(("another user's key", bearer(victim.bob_key), call) for call in calls(victim, False)),
                *(("forged ids", bearer(victim.bob_key), call) for call in calls(victim, True)),
            ]
            for attack, headers, call in attempts:
                if attack == "another user's key" and route == ("GET", "/v1/grants"):
                    continue  # the credential decides: bob's key lists bob's grants
                response = call.send(api, headers)
                expected = {401} if attack in ("no key", "wrong key") else REFUSED
                refused = response.status_code in expected and set(response.json()) == {"error"}
                leaked = victim.leaked(response.text, call.sent())
                written = snapshot(memory) != before
                tally.count(attack, refused, bool(leaked), written)
                if not refused or leaked or written:
                    failures.append((route, attack, call, response.status_code, response.text[:200], leaked))
                    before = snapshot(memory)
    tally.report(record_property)
    assert failures == []
    assert tally.held(), tally.counts


# -- MCP ---------------------------------------------------------------------------------------


def _tool(victim: Victim) -> dict[str, tuple[dict, list[dict]]]:
    """Each tool: (alice's own arguments, bob's forged arguments)."""
    memory_id = victim.memory_ids[0]
    by_id = [{"memory_id": memory_id}, {"memory_id": victim.support_id}] + [
        {"memory_id": memory_id, **ids} for ids in [{"user_id": "bob"}, {"agent_id": "support"}, *FORGED_IDS]
    ]
    scoped = lambda extra: [{**extra, **ids} for ids in FORGED_IDS]  # noqa: E731
    return {
        "add_memory": ({"text": "I am bob now", **ALICE}, scoped({"text": "I am bob now"})),
        "search_memory": ({"query": "passport", **ALICE}, scoped({"query": "passport"})),
        "get_memory": ({"memory_id": memory_id}, by_id),
        "update_memory": (
            {"memory_id": memory_id, "text": "x"},
            [{**a, "text": "overwritten"} for a in by_id],
        ),
        "delete_memory": ({"memory_id": memory_id}, by_id),
        "memory_history": ({"memory_id": memory_id}, by_id),
        "forget_memories": (dict(ALICE), scoped({})),
        "handoff_memories": (
            {"memory_ids": [memory_id], "to_user_id": "bob"},
            [
                {"memory_ids": [memory_id], "to_user_id": "bob"},
                {"memory_ids": [victim.bob_memory], "to_user_id": "alice"},
                {
                    "memory_ids": [victim.support_id, victim.bob_memory],
                    "to_user_id": "bob",
                    "to_agent_id": "x",
                },
            ],
        ),
    }


PROFILE_URIS = [
    "langmem://scopes/user_id%3Dalice/profile",
    "langmem://scopes/user_id%3Dalice%7Cagent_id%3Dsupport/profile",
]


def _rpc(method: str, params: dict) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


async def test_every_mcp_tool_and_resource_refuses_every_attack_reads_nothing_and_writes_nothing(
    store, record_property
):
    memory, url, victim = store
    table = _tool(victim)
    before = snapshot(memory)
    tally = Tally("MCP")
    failures = []

    def judge(attack: str, what: str, refused: bool, answer: str, sent: str) -> None:
        nonlocal before
        leaked = victim.leaked(answer, sent)
        written = snapshot(memory) != before
        tally.count(attack, refused, bool(leaked), written)
        if not refused or leaked or written:
            failures.append((attack, what, answer[:200], leaked, written))
            before = snapshot(memory)

    async with mcp_session(url, victim.bob_key) as mcp:
        assert {tool.name for tool in (await mcp.list_tools()).tools} == set(table), "a tool without a row"
        templates = [t.uriTemplate for t in (await mcp.list_resource_templates()).resourceTemplates]
        assert templates == ["langmem://scopes/{scope}/profile"]
        # another user's key: alice's own arguments; forged ids: bob claiming alice's things
        for name, (own, forged) in table.items():
            for attack, arguments in [("another user's key", own), *(("forged ids", a) for a in forged)]:
                result = await mcp.call_tool(name, arguments)
                answer = " ".join(getattr(block, "text", "") for block in result.content)
                judge(attack, f"{name} {arguments}", result.isError, answer, json.dumps(arguments))
        for uri in PROFILE_URIS:
            try:
                answer, refused = (await mcp.read_resource(uri)).model_dump_json(), False
            except McpError as exc:
                answer, refused = str(exc), True
            judge("another user's key", f"resource {uri}", refused, answer, uri)

    # no key and wrong keys: every tool and resource as a raw JSON-RPC call, and the official client
    requests = [_rpc("tools/call", {"name": name, "arguments": own}) for name, (own, _) in table.items()]
    requests += [_rpc("resources/read", {"uri": uri}) for uri in PROFILE_URIS]
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for authorization in [None, *WRONG_AUTHORIZATIONS]:
            attack = "wrong key" if authorization else "no key"
            headers = {**accept, **({"Authorization": authorization} if authorization else {})}
            for request in requests:
                response = await http.post(MCP_PATH, json=request, headers=headers)
                what = f"raw {request['method']} {authorization}"
                judge(attack, what, response.status_code == 401, response.text, "")
    for authorization in [None, *WRONG_AUTHORIZATIONS]:
        attack = "wrong key" if authorization else "no key"
        key = None if authorization is None else authorization.removeprefix("Bearer ")
        try:
            async with mcp_session(url, key) as mcp:
                await mcp.call_tool("search_memory", {"query": "passport"})
            judge(attack, f"client with {authorization}", False, "", "")
        except BaseExceptionGroup as refused:
            judge(attack, f"client with {authorization}", http_statuses(refused) == [401], repr(refused), "")

    tally.report(record_property)
    assert failures == []
    assert tally.held(), tally.counts


# -- controls ----------------------------------------------------------------------------------


def test_every_rest_route_serves_the_victims_own_key(fresh_store):
    """The calls the attacks copied succeed with alice's key (forgetting her last)."""
    memory, url, victim = fresh_store
    done = set()
    with httpx.Client(base_url=url, headers=bearer(victim.alice_key), timeout=60) as api:
        forget = ("DELETE", "/v1/memories")
        for route in [*(r for r in REST_TABLE if r != forget), forget]:
            if route == ("POST", "/v1/handoff"):
                body = {"memory_ids": [victim.memory_ids[1]], "to": {"user_id": "alice", "run_id": "r"}}
                calls = [Call("POST", "/v1/handoff", body=body)]
            elif route == ("DELETE", "/v1/grants/{grant_id}"):
                given = api.post("/v1/grants", json={"principal": "someone", "user_id": "alice"}).json()
                calls = [Call("DELETE", f"/v1/grants/{given['id']}")]
            else:
                calls = REST_TABLE[route](victim, False)
            for call in calls:
                response = call.send(api, {})
                assert response.status_code == 200, (route, response.text)
            done.add(route)
    assert done == set(REST_TABLE)
    assert memory.get_all(user_id="alice") == []  # the last call forgot her


async def test_every_mcp_tool_and_resource_serves_the_victims_own_key(fresh_store):
    memory, url, victim = fresh_store
    table = _tool(victim)
    table["handoff_memories"] = ({"memory_ids": [victim.memory_ids[0]], "to_run_id": "r"}, [])
    order = [name for name in table if name not in ("delete_memory", "forget_memories")]
    async with mcp_session(url, victim.alice_key) as mcp:
        for uri in PROFILE_URIS:
            assert (await mcp.read_resource(uri)).contents
        for name in [*order, "delete_memory", "forget_memories"]:
            result = await mcp.call_tool(name, table[name][0])
            assert not result.isError, (name, result.content)
    assert memory.get_all(user_id="alice") == []
