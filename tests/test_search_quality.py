"""Search quality on the embedded tiers: the demo's questions, relevance scores, hubs, inflections."""

import pytest

from langmem_plugin import InvalidInputError
from langmem_plugin.demo import QUERIES, run_demo
from langmem_plugin.tiers.vector.relevance import relevance, term_evidence, term_matches, word_root

DEMO_ANSWERS = {
    "Where does Alice live?": "Berlin",
    "What food allergies does Alice have?": "allergic to peanuts",
    "What is the name of Alice's dog?": "named Miso",
    "What does Alice like to eat?": "Thai food",
}


@pytest.fixture(scope="module")
def demo_memory(tmp_path_factory):
    memory = run_demo(tmp_path_factory.mktemp("demo"), echo=lambda line: None)
    yield memory
    memory.close()


@pytest.mark.parametrize("query", QUERIES)
def test_demo_question_has_the_right_memory_at_rank_1(demo_memory, query):
    hits = demo_memory.search(query, user_id="alice", limit=3)
    assert DEMO_ANSWERS[query] in hits[0].memory.text, [h.memory.text for h in hits]


def test_scores_are_relevance_in_unit_interval_with_each_rankers_evidence(demo_memory):
    hits = demo_memory.search("What food allergies does Alice have?", user_id="alice", limit=6)
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    top = hits[0]
    assert top.keyword_score is not None and top.keyword_score > 0  # "allergies" matched "allergic"
    assert top.score == pytest.approx(relevance(top.similarity, top.keyword_score, top.graph_score, top.context_score))
    assert top.fused_score is not None and top.dense_rank == 1 and top.keyword_rank == 1


def test_threshold_filters_on_the_relevance_score(demo_memory):
    everything = demo_memory.search("What food allergies does Alice have?", user_id="alice", limit=10)
    cut = (everything[0].score + min(h.score for h in everything)) / 2
    kept = demo_memory.search("What food allergies does Alice have?", user_id="alice", limit=10, threshold=cut)
    assert kept and len(kept) < len(everything)
    assert all(h.score >= cut for h in kept)
    assert {h.memory.id for h in kept} == {h.memory.id for h in everything if h.score >= cut}
    with pytest.raises(InvalidInputError):
        demo_memory.search("anything", user_id="alice", threshold=-0.5)


def test_an_entity_linked_to_most_memories_links_nothing(demo_memory):
    """Alice is linked to most of her memories (a hub): no graph evidence; Miso to one: full specificity."""
    alice = demo_memory.search("Alice", user_id="alice", limit=10)
    assert alice and all(h.graph_score is None and h.graph_rank is None for h in alice)
    miso = [h for h in demo_memory.search("Miso", user_id="alice", limit=10) if h.graph_score is not None]
    assert [h.graph_score for h in miso] == [1.0]


def test_neighbouring_turns_lend_context(memory):
    """A reply that only makes sense with the turn before it is found through that turn."""
    memory.add(
        [
            {"role": "user", "content": "Did you ever get to see the northern lights in Norway?", "timestamp": "2024-01-05T10:00:00Z"},
            {"role": "assistant", "content": "Yes, twice! It was unforgettable.", "timestamp": "2024-01-05T10:00:30Z"},
            {"role": "user", "content": "I bought new running shoes.", "timestamp": "2024-03-01T09:00:00Z"},
            {"role": "user", "content": "My cousin visited from Spain.", "timestamp": "2024-03-01T09:00:10Z"},
        ],
        user_id="u",
        infer=False,
    )
    query = "How many times did they see the northern lights?"
    hits = {h.memory.text: h for h in memory.search(query, user_id="u", limit=4)}

    def own(hit):
        return relevance(hit.similarity, hit.keyword_score, hit.graph_score)

    question, reply = hits["Did you ever get to see the northern lights in Norway?"], hits["Yes, twice! It was unforgettable."]
    assert reply.context_score == pytest.approx(own(question))  # the previous turn, seconds earlier
    assert reply.score == pytest.approx(relevance(reply.similarity, reply.keyword_score, None, own(question)))
    assert reply.score > own(reply)
    shoes = hits["I bought new running shoes."]
    assert shoes.context_score == pytest.approx(own(hits["My cousin visited from Spain."]))  # not the reply, 2 months before


def test_relative_dates_in_the_query_are_anchored_to_the_time_asked_about(demo_memory):
    """Memories store "last week" as the absolute week; a query's "last week" is anchored the same way."""
    def berlin(as_of):
        hits = demo_memory.search("Who moved last week?", user_id="alice", limit=6, as_of=as_of)
        return hits, next(h for h in hits if "Berlin" in h.memory.text)

    hits, week_after = berlin("2024-04-23T09:00:00+00:00")  # "last week" = the week of 15 April 2024
    assert "Berlin" in hits[0].memory.text
    _, months_later = berlin("2024-09-10T09:00:00+00:00")  # the week of 2 September 2024
    assert week_after.keyword_score > months_later.keyword_score


def test_inflections_match_by_root():
    assert word_root("allergies") == word_root("allergic") == "allerg"
    assert term_matches("allergies", "alice is allergic to peanuts.")
    assert term_matches("stopped", "we stop here") and term_matches("painting", "she paints")
    assert term_matches("dog", "two dogs") and not term_matches("car", "a career")
    found = term_evidence(
        [("allergies", 1), ("food", 2)], {"peanuts": "Alice is allergic to peanuts.", "tea": "Tea"}
    )
    assert [t.found for t in found] == [["peanuts"], []]


def test_keyword_ranker_finds_other_inflections(memory):
    memory.add(
        ["I am allergic to shellfish.", "My sister paints landscapes.", "We adopted two cats."],
        user_id="u",
        infer=False,
    )
    hits = memory.search("allergies", user_id="u", limit=3)
    assert hits[0].memory.text == "I am allergic to shellfish." and hits[0].keyword_rank == 1
    painting = memory.search("painting", user_id="u", limit=3)
    assert painting[0].memory.text == "My sister paints landscapes." and painting[0].keyword_rank == 1
