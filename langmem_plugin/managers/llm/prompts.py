"""Prompts of the LLM memory manager, kept apart from the code so that they can be overridden.

System prompts hold instructions only; conversation text and existing memories travel in the
user message, so no user data sits in the system prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

USER_FACTS = """You extract long-term memories about the people in a conversation.
Return atomic facts: one self-contained statement each, in the third person, naming the person
by the name shown before their message ("Alice lives in Berlin", not "The user lives in Berlin").
Keep preferences, biographical details, plans, relationships, events with their dates, opinions;
a short statement is a fact too ("I'm vegetarian." -> "Alice is vegetarian").
Skip greetings, questions, small talk and anything the assistant said unless the user confirmed it.
A fact about someone else (a relative, a friend) names that person as its subject
("my sister lives in Rome" -> "Alice's sister lives in Rome"), never the speaker.
A negation or retraction is a fact stating what is true now: "I don't eat meat anymore" ->
"Alice no longer eats meat"; "I used to smoke but now I run" -> "Alice no longer smokes" and
"Alice runs"; "Actually, I'm a nurse, not a teacher" -> "Alice is a nurse, not a teacher".
A request to forget ("forget that I love jazz", "please forget my phone number", "delete what I
said about my ex") is one fact with "forget": true whose text names what to forget ("Alice loves
jazz", "Alice's phone number"); it is never stored, so never write it as an ordinary fact too.
When a message implies a date ("yesterday", "last week"), resolve it against that message's
timestamp and write the absolute date into the fact, and also give it as "date" (YYYY-MM-DD).
For every fact list the ids of the messages it came from, and the relations it states between
named entities as (source, relation, target) with a short verb phrase ("lives in", "works at",
"sister of") and each entity's type (person, place, organisation, thing)."""

AGENT_FACTS = """You extract procedural memories for an AI agent from a conversation.
Return atomic statements about how the agent should behave for this user or task: instructions,
corrections the user made, preferences about format and tools, steps that worked. Write each as a
self-contained instruction; a retraction states what holds now ("stop using bullet points" ->
"Do not use bullet points"). A request to forget an instruction is one statement with
"forget": true whose text names the instruction; it is never stored. For every statement list
the ids of the messages it came from, and the relations it states as (source, relation, target)."""

RECONCILE = """You maintain a store of memories. For each new fact decide one action against the
existing memories shown with it (each identified by a small integer id):
- ADD: the fact is new information.
- UPDATE: the fact refines or extends existing memory <id> (same subject, more or corrected
  detail); give the merged text.
- INVALIDATE: the fact contradicts or retracts existing memories <ids>, which stop being true:
  a move, a job change, "no longer", "not ... anymore", "stopped", "quit", "used to X but now Y",
  "Actually ..., not ...". The new fact is also stored.
- NOOP: the fact is already known (same meaning as memory <id>).
- DELETE: only for a fact marked FORGET, a request to forget: list the ids of the memories it
  names (none if no memory matches). Nothing is stored. A FORGET fact is always DELETE.
A fact about another person (a relative, a friend) never updates, invalidates or repeats a
memory about the speaker, nor the reverse. Only use ids that are listed. Answer with one
decision per fact, by fact index."""

GRAPH = """You extract a knowledge graph from a fact: the relations it states between entities
(people, places, organisations, things) as (source, relation, target), where relation is a short
verb phrase such as "lives in" or "works at", with each entity's type. Use the person's name for
the subject. Only include what the fact states."""


SUMMARISE = """You condense old conversation turns into the long-term memories worth keeping once
the turns themselves are archived. Return atomic facts: one self-contained statement each, in the
third person, naming each person by the name shown before their message. Keep what stays useful
later: biographical details, preferences, relationships, plans, and events with their absolute
dates (resolve "yesterday" or "last week" against the message's timestamp and give the date as
"date", YYYY-MM-DD). Merge what several turns say about one thing into one fact; skip greetings,
questions and small talk. Never answer with a request to forget ("forget" is always false).
For every fact list the ids of the turns it came from, and the relations it states between named
entities as (source, relation, target) with each entity's type."""


@dataclass(frozen=True)
class Prompts:
    """The manager's instructions; pass your own to `LLMMemoryManager(prompts=...)`."""

    user_facts: str = USER_FACTS
    agent_facts: str = AGENT_FACTS
    reconcile: str = RECONCILE
    graph: str = GRAPH
    summarise: str = SUMMARISE
    custom_extraction: str | None = None  # appended to the extraction prompt, e.g. "ignore health data"
    custom_update: str | None = None  # appended to the reconciliation prompt

    def extraction(self, procedural: bool) -> str:
        base = self.agent_facts if procedural else self.user_facts
        return base + (
            f"\n\nAdditional instructions:\n{self.custom_extraction}" if self.custom_extraction else ""
        )

    def reconciliation(self) -> str:
        return self.reconcile + (
            f"\n\nAdditional instructions:\n{self.custom_update}" if self.custom_update else ""
        )
