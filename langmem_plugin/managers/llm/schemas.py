"""Structured outputs the manager asks models for (JSON schema / tool calling / parsed JSON)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ExtractedFact(BaseModel):
    text: str = Field(description="one atomic, self-contained fact in the third person")
    source_message_ids: list[str] = Field(description="ids of the messages the fact came from")
    date: str | None = Field(default=None, description="absolute date the fact refers to, YYYY-MM-DD")


class FactList(BaseModel):
    facts: list[ExtractedFact]


class FactDecision(BaseModel):
    fact_index: int = Field(description="index of the new fact")
    action: Literal["ADD", "UPDATE", "INVALIDATE", "NOOP"]
    memory_id: int | None = Field(default=None, description="integer id of the existing memory, for UPDATE/INVALIDATE/NOOP")
    text: str | None = Field(default=None, description="merged text, for UPDATE")


class DecisionList(BaseModel):
    decisions: list[FactDecision]


class GraphEntity(BaseModel):
    name: str
    type: str = "entity"


class GraphRelation(BaseModel):
    source: str
    relation: str
    target: str


class GraphExtraction(BaseModel):
    entities: list[GraphEntity] = Field(default_factory=list)
    relations: list[GraphRelation] = Field(default_factory=list)
