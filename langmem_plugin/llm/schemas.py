"""Structured outputs the manager asks models for (JSON schema / tool calling / parsed JSON)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..records import FactRelation


class ExtractedFact(BaseModel):
    text: str = Field(
        description="an atomic, self-contained fact, third person; for a request to forget: what to forget"
    )
    source_message_ids: list[str] = Field(description="ids of the messages the fact came from")
    date: str | None = Field(default=None, description="absolute date the fact refers to, YYYY-MM-DD")
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
