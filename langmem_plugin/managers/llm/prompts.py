"""Prompts of the LLM memory manager, kept apart from the code so that they can be overridden.

System prompts hold instructions only; conversation text and existing memories travel in the
user message, so no user data sits in the system prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

USER_FACTS = """You extract long-term memories about the people in a conversation.
Return atomic facts: one self-contained statement each, in the third person, naming the person
by the name shown before their message ("Alice lives in Berlin", not "The user lives in Berlin").
Keep preferences, biographical details, plans, relationships, events with their dates, opinions.
Skip greetings, questions, small talk and anything the assistant said unless the user confirmed it.
When a message implies a date ("yesterday", "last week"), resolve it against that message's
timestamp and write the absolute date into the fact, and also give it as "date" (YYYY-MM-DD).
For every fact list the ids of the messages it came from."""

AGENT_FACTS = """You extract procedural memories for an AI agent from a conversation.
Return atomic statements about how the agent should behave for this user or task: instructions,
corrections the user made, preferences about format and tools, steps that worked. Write each as a
self-contained instruction. For every statement list the ids of the messages it came from."""

RECONCILE = """You maintain a store of memories. For each new fact decide one action against the
existing memories shown with it (each identified by a small integer id):
- ADD: the fact is new information.
- UPDATE: the fact refines or extends existing memory <id> (same subject, more or corrected detail);
  give the merged text.
- INVALIDATE: the fact contradicts existing memory <id>, which stops being true (e.g. a move, a
  job change); the new fact is also stored.
- NOOP: the fact is already known (same meaning as memory <id>).
Only use ids that are listed. Answer with one decision per fact, by fact index."""

GRAPH = """You extract a knowledge graph from facts. Return the entities (people, places,
organisations, things, with a short type) and the relations between them as
(source, relation, target), where relation is a short verb phrase such as "lives in" or
"works at". Use the person's name for the subject. Only include what the facts state."""


@dataclass(frozen=True)
class Prompts:
    """The manager's instructions; pass your own to `LLMMemoryManager(prompts=...)`."""

    user_facts: str = USER_FACTS
    agent_facts: str = AGENT_FACTS
    reconcile: str = RECONCILE
    graph: str = GRAPH
    custom_extraction: str | None = None  # appended to the extraction prompt, e.g. "ignore health data"
    custom_update: str | None = None  # appended to the reconciliation prompt

    def extraction(self, procedural: bool) -> str:
        base = self.agent_facts if procedural else self.user_facts
        return base + (f"\n\nAdditional instructions:\n{self.custom_extraction}" if self.custom_extraction else "")

    def reconciliation(self) -> str:
        return self.reconcile + (f"\n\nAdditional instructions:\n{self.custom_update}" if self.custom_update else "")
