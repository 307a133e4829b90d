"""Structured outputs the manager asks models for (JSON schema / tool calling / parsed JSON).

Extraction and reconciliation use a schema made for the call, whose ids are an enum of those the
prompt shows: a decoder constrained by the schema (llama.cpp's grammar, OpenAI's strict JSON
schema) cannot write another, and any other model's answer citing one fails validation."""

from __future__ import annotations

from collections.abc import Sequence
from types import GenericAlias
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from ...records import FactRelation


class ExtractedFact(BaseModel):
    text: str = Field(
        description="an atomic, self-contained fact, third person; for a request to forget: what to forget"
    )
    source_message_ids: list[str] = Field(description="ids of the messages the fact came from")
    date: str | None = Field(
        default=None,
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        description="the absolute date it refers to: 2024-05-31",
    )
    forget: bool = Field(default=False, description="true when the speaker asks to forget it (never stored)")
    relations: list[FactRelation] = Field(
        default_factory=list, description="the relations between entities that the fact states"
    )


class FactList(BaseModel):
    facts: list[ExtractedFact]


class FactDecision(BaseModel):
    fact_index: int = Field(description="index of the new fact")
    action: Literal["ADD", "UPDATE", "INVALIDATE", "NOOP", "DELETE"]
    memory_ids: list[int] = Field(
        default_factory=list,
        description="integer ids of existing memories: one for UPDATE and NOOP, one or more for INVALIDATE, "
        "those the request names for DELETE",
    )
    text: str | None = Field(default=None, description="merged text, for UPDATE")


class DecisionList(BaseModel):
    decisions: list[FactDecision]


class GraphExtraction(BaseModel):
    relations: list[FactRelation] = Field(default_factory=list)


def _one_of(values: Sequence[object]) -> Any:
    """`Literal[values]` built for one call (pydantic validates it and writes it as an enum); a type
    checker cannot know run-time values, so to it this is Any."""
    return Literal[tuple(values)]


def _list_of(item: Any) -> Any:
    """`list[item]` of a type built at run time (a type checker refuses a variable inside [])."""
    return GenericAlias(list, (item,))


def fact_list_citing(message_ids: Sequence[str]) -> type[FactList]:
    """FactList whose facts cite only these message ids."""
    fact = create_model(
        "ExtractedFact",
        __base__=ExtractedFact,
        source_message_ids=(
            _list_of(_one_of(message_ids)),
            Field(description="ids of the messages the fact came from"),
        ),
    )
    return create_model("FactList", __base__=FactList, facts=(_list_of(fact), ...))


def decision_list_for(facts: int, memories: int) -> type[DecisionList]:
    """DecisionList of one decision per fact, over fact indices 0..facts-1 and memory ids 0..memories-1."""
    fields = FactDecision.model_fields
    decision = create_model(
        "FactDecision",
        __base__=FactDecision,
        fact_index=(_one_of(range(facts)), fields["fact_index"]),
        memory_ids=(_list_of(_one_of(range(memories))), fields["memory_ids"]),
    )
    one_each = Field(min_length=facts, max_length=facts, description="one decision per new fact")
    return create_model("DecisionList", __base__=DecisionList, decisions=(_list_of(decision), one_each))
