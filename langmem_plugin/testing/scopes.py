"""Hypothesis strategies for scope ids an adversary would pick: separators, quotes, escapes, unicode."""

from __future__ import annotations

from hypothesis import strategies as st

from ..records import Scope

# characters that any naive key format uses as syntax, plus prefixes of one another ("a", "ab")
SEPARATORS = [*"|=:/%\\\"'*?[]{}, ab", "%7C", "user_id=", "run_id=", "é", "日本", "🙂", "\u200b"]

scope_ids = (
    st.lists(
        st.one_of(
            st.sampled_from(SEPARATORS), st.characters(min_codepoint=32, blacklist_categories=("Cs", "Cc"))
        ),
        min_size=1,
        max_size=6,
    )
    .map("".join)
    .filter(str.strip)
)


@st.composite
def scopes(draw) -> Scope:
    """A scope with one to three ids, each possibly full of separators."""
    fields = draw(st.sets(st.sampled_from(["user_id", "agent_id", "run_id"]), min_size=1))
    return Scope(**{field: draw(scope_ids) for field in sorted(fields)})
