"""Grants and keys: the ids of a call narrow its key's grants and never widen them; keys are
stored as digests and every malformed, unknown or revoked key is refused."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from langmem_plugin import (
    InvalidFilterError,
    InvalidInputError,
    Memory,
    MissingScopeError,
    NotGrantedError,
    Scope,
    UnauthenticatedError,
)
from langmem_plugin.server.grants import (
    Access,
    Caller,
    Grant,
    Right,
    check_grant,
    check_reach,
    confined_filters,
    may_touch,
    resolve,
    shareable,
)
from langmem_plugin.server.keys import Keyring
from langmem_plugin.server.namespaces import API_KEYS

from .helpers import HashingEmbeddings

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
ids = st.sampled_from(["alice", "bob", "carol"])
scopes = st.builds(
    Scope,
    user_id=st.none() | ids,
    agent_id=st.none() | st.sampled_from(["bot7", "support"]),
    run_id=st.none() | st.sampled_from(["r1", "r2"]),
).filter(lambda scope: bool(scope.as_filter()))
rights = st.frozensets(st.sampled_from(list(Right)), min_size=1)


def grant(*scopes: Scope, rights=frozenset({Right.READ, Right.WRITE}), filters=None, principal="p") -> Grant:
    return Grant(
        id=f"g{len(scopes)}",
        principal=principal,
        scopes=tuple(scopes),
        rights=frozenset(rights),
        filters=filters,
        granted_by="test",
        created_at=NOW,
    )


def caller(*grants: Grant) -> Caller:
    return Caller(principal="p", key_id="k", grants=grants)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(scopes, rights), min_size=1, max_size=3),
    st.none() | scopes,
    st.sampled_from(list(Right)),
)
def test_a_resolved_scope_lies_within_a_grant_that_gives_the_right_and_keeps_every_given_id(
    held, asked, right
):
    who = caller(*(grant(scope, rights=given_rights) for scope, given_rights in held))
    try:
        access = resolve(who, right, asked)
    except NotGrantedError:
        # no grant with the right is compatible with the ids
        assert not any(
            g.gives(right)
            and all(getattr(s, f) in (None, v) for f, v in (asked.as_filter() if asked else {}).items())
            for g in who.grants
            for s in g.scopes
        )
        return
    except MissingScopeError:
        return  # several scopes, none containing the others: the call must name one
    assert any(g.gives(right) and g.covers(access.scope) for g in who.grants)
    for field, value in (asked.as_filter() if asked else {}).items():
        assert getattr(access.scope, field) == value


def test_ids_narrow_a_grant_and_contradicting_ids_are_refused():
    who = caller(grant(Scope(agent_id="support")))
    assert resolve(who, Right.READ, None).scope == Scope(agent_id="support")
    assert resolve(who, Right.READ, Scope(user_id="alice")).scope == Scope(
        user_id="alice", agent_id="support"
    )
    with pytest.raises(NotGrantedError):
        resolve(who, Right.READ, Scope(user_id="alice", agent_id="billing"))
    with pytest.raises(NotGrantedError, match="forget"):
        resolve(who, Right.FORGET, None)


def test_a_key_over_several_scopes_must_name_one_unless_one_contains_the_others():
    who = caller(grant(Scope(user_id="alice")), grant(Scope(user_id="bob")))
    with pytest.raises(MissingScopeError, match="several scopes"):
        resolve(who, Right.READ, None)
    assert resolve(who, Right.READ, Scope(user_id="bob")).scope == Scope(user_id="bob")
    nested = caller(grant(Scope(user_id="alice")), grant(Scope(user_id="alice", agent_id="bot7")))
    assert resolve(nested, Right.READ, None).scope == Scope(user_id="alice")


def test_admin_gives_every_right_and_filters_confine_reads():
    admin = grant(Scope(user_id="alice"), Scope(user_id="bob"), rights={Right.ADMIN})
    assert all(admin.gives(right) for right in Right)
    shared = caller(grant(Scope(user_id="alice"), rights={Right.READ}, filters={"topic": "billing"}))
    access = resolve(shared, Right.READ, None)
    assert access.filters == {"topic": "billing"}
    assert may_touch(shared, Right.READ, Scope(user_id="alice"), {"topic": "billing"})
    assert not may_touch(shared, Right.READ, Scope(user_id="alice"), {"topic": "health"})
    assert not may_touch(shared, Right.READ, Scope(user_id="alice"), None)  # deleted: metadata unknown
    assert shareable(shared, Scope(user_id="alice")) == frozenset()


@given(st.dictionaries(st.sampled_from(["topic", "lang", "x"]), st.sampled_from(["a", "b", 1]), max_size=3))
def test_a_call_cannot_filter_its_way_out_of_its_grant(asked):
    access = Access(scope=Scope(user_id="alice"), filters={"topic": "a"})
    try:
        merged = confined_filters(access, asked)
    except NotGrantedError:
        assert asked.get("topic") != "a"
        return
    assert merged["topic"] == "a" and all(merged[key] == value for key, value in asked.items())


def test_check_reach_refuses_ids_outside_every_grant():
    who = caller(grant(Scope(user_id="bob")))
    check_reach(who, None)
    check_reach(who, Scope(user_id="bob", agent_id="x"))
    with pytest.raises(NotGrantedError):
        check_reach(who, Scope(user_id="alice"))


@pytest.mark.parametrize(
    "bad, error",
    [
        (grant(), InvalidInputError),  # no scope
        (grant(Scope()), MissingScopeError),  # every user's memories
        (grant(Scope(user_id="a"), rights={Right.READ, Right.WRITE}, filters={"t": "x"}), InvalidInputError),
        (grant(Scope(user_id="a"), rights={Right.READ}, filters={"t": {"$regex": "x"}}), InvalidFilterError),
        (grant(Scope(user_id="a"), principal="no spaces"), InvalidInputError),
    ],
)
def test_grants_that_could_not_be_enforced_are_refused(bad, error):
    with pytest.raises(error):
        check_grant(bad)


@pytest.fixture
def keyring(tmp_path):
    with Memory({"path": str(tmp_path / "keys")}, embeddings=HashingEmbeddings()) as memory:
        yield Keyring(memory.services.kv)


def test_a_key_is_stored_as_a_digest_and_revoking_it_refuses_the_next_call(keyring):
    key, record = keyring.create_key("support-bot", label="ci")
    keyring.grant("support-bot", [Scope(user_id="alice")], {Right.READ}, "test")
    stored = json.dumps(keyring.kv.get(API_KEYS, record["key_id"]))
    secret = key.split("_", 2)[2]
    assert secret not in stored and "hash" in stored
    found = keyring.authenticate(key)
    assert found.principal == "support-bot" and found.grants[0].scopes == (Scope(user_id="alice"),)
    keyring.revoke_key(record["key_id"])
    with pytest.raises(UnauthenticatedError):
        keyring.authenticate(key)


def test_revoking_a_grant_leaves_the_key_with_nothing(keyring):
    key, _ = keyring.create_key("bob-app")
    given = keyring.grant("bob-app", [Scope(user_id="bob")], {Right.READ}, "test")
    assert len(keyring.authenticate(key).grants) == 1
    keyring.revoke_grant(given.id)
    assert keyring.authenticate(key).grants == ()
    with pytest.raises(InvalidInputError):
        keyring.revoke_grant(given.id)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_other_string_is_refused_as_a_key(keyring_for_text, text):
    with pytest.raises(UnauthenticatedError):
        keyring_for_text.authenticate(text)


@pytest.fixture(scope="module")
def keyring_for_text(tmp_path_factory):
    with Memory({"path": str(tmp_path_factory.mktemp("keys"))}, embeddings=HashingEmbeddings()) as memory:
        keyring = Keyring(memory.services.kv)
        keyring.create_key("someone")
        yield keyring


def test_a_tampered_key_is_refused(keyring):
    key, _ = keyring.create_key("someone")
    prefix, key_id, secret = key.split("_", 2)
    for tampered in (
        f"{prefix}_{key_id}_{secret[:-1]}",
        f"{prefix}_{key_id[::-1]}_{secret}",
        key + "x",
        key.upper(),
    ):
        with pytest.raises(UnauthenticatedError):
            keyring.authenticate(tampered)
