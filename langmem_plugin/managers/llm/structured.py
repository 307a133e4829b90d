"""Ask a chat model for a pydantic object: native structured output where the model has it,
tolerant JSON parsing where it does not, validation errors fed back for a bounded number of
retries, and a typed error (never a silent empty result) when the model still fails."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

from ...errors import LangMemError
from ...identity import model_identity
from ...namespaces import LLM_ANSWERS
from ...records import Scope
from ...tiers.keyvalue import KeyValueStore

T = TypeVar("T", bound=BaseModel)
logger = logging.getLogger(__name__)


class LLMOutputError(LangMemError):
    """The model gave no valid answer within the allowed retries; nothing was stored."""


class LLMCallError(LangMemError):
    """The model could not be called (server down, rejected request); nothing was stored."""


class InvalidAnswerError(ValueError):
    """Raised by a semantic check (e.g. an unknown memory id) to make the model try again."""


def parse_json_object(text: str) -> dict:
    """The first JSON object in `text`, tolerating code fences and prose around it."""
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char == "{":
            try:
                value, _ = decoder.raw_decode(text[start:])
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    raise ValueError("no JSON object found in the reply")


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


def _problem(error: ValueError) -> str:
    """What is wrong with an answer, in one line fed back to the model: each schema error as
    `location: message`, without pydantic's links to its documentation."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'the answer'}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
    return " ".join(str(error).split())


StructuredOutputMode = Literal[
    "auto", "json_schema", "function_calling", "json_mode", "json_object_schema", "prompt"
]


class StructuredCaller:
    """`mode`: "auto" uses the model's default structured output and falls back to asking for JSON
    in the prompt when the model or its server does not support it; "prompt" never uses it; the
    others pick a `with_structured_output` method; "json_object_schema" sends the schema as
    `response_format={"type": "json_object", "schema": ...}`, which llama.cpp's server turns into
    a grammar that constrains decoding (useful for small local models)."""

    def __init__(
        self,
        model: BaseChatModel,
        *,
        retries: int = 2,
        cache: KeyValueStore | None = None,
        mode: StructuredOutputMode = "auto",
    ):
        self.model = model
        self.retries = retries
        self._cache = cache
        self._identity = model_identity(model)
        self._mode = mode

    def _native(self, messages: list[BaseMessage], schema: type[T]) -> tuple[str, T | None]:
        if self._mode == "json_object_schema":
            response_format = {"type": "json_object", "schema": schema.model_json_schema()}
            return _text(self.model.bind(response_format=response_format).invoke(messages)), None
        options = {} if self._mode == "auto" else {"method": self._mode}
        # with include_raw=True the answer is a dict: {"raw", "parsed", "parsing_error"}
        result = cast(
            dict[str, Any],
            self.model.with_structured_output(schema, include_raw=True, **options).invoke(messages),
        )
        raw = result["raw"]
        parsed = result.get("parsed")
        text = _text(raw) if isinstance(raw, BaseMessage) else str(raw)
        if not text and isinstance(raw, AIMessage) and raw.tool_calls:
            text = json.dumps(raw.tool_calls[0]["args"])
        return text, parsed if isinstance(parsed, schema) else None

    def _ask(self, messages: list[BaseMessage], schema: type[T]) -> tuple[str, T | None]:
        """One model call: (raw text, parsed object if the model's own structured output produced one)."""
        if self._mode != "prompt":
            try:
                return self._native(messages, schema)
            except Exception as exc:  # any refusal of structured output
                if self._mode != "auto":
                    raise LLMCallError(
                        f"{self._identity} failed with structured output {self._mode!r}: {exc}"
                    ) from exc
                logger.warning(
                    "%s: no native structured output (%s); asking for JSON in the prompt", self._identity, exc
                )
                self._mode = "prompt"
        try:
            return _text(self.model.invoke(messages)), None
        except Exception as exc:  # surfaced as one typed error
            raise LLMCallError(f"calling {self._identity} failed: {exc}") from exc

    def __call__(
        self,
        scope: Scope,
        system: str,
        user: str,
        schema: type[T],
        validate: Callable[[T], None] | None = None,
        images: Sequence[dict[str, Any]] = (),
    ) -> T:
        """Ask for a `schema` answer on behalf of `scope`, showing the model `images` (standard v1
        image blocks) after the user text; cached answers are keyed `<scope key>/<hash>`, so a
        purge of the scope finds and erases them (they hold the scope's facts)."""
        schema_json = json.dumps(schema.model_json_schema())
        instructions = f"{user}\n\nReply with one JSON object matching this JSON schema:\n{schema_json}"
        content: str | list[str | dict[str, Any]] = (
            [{"type": "text", "text": instructions}, *images] if images else instructions
        )
        messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(content)]
        hashed = hashlib.sha256(f"{self._identity}\x1f{schema.__name__}\x1f{system}\x1f{user}".encode())
        for image in images:
            hashed.update(json.dumps(image, sort_keys=True).encode())
        digest = hashed.hexdigest()
        key = f"{scope.key()}/{digest}"
        if self._cache is not None:
            cached = self._cache.get(LLM_ANSWERS, key)
            if cached is not None:
                return schema.model_validate(cached)
        problems = []
        for _ in range(self.retries + 1):
            text, parsed = self._ask(messages, schema)
            try:
                answer = parsed if parsed is not None else schema.model_validate(parse_json_object(text))
                if validate is not None:
                    validate(answer)
            except (ValidationError, ValueError) as exc:
                problem = _problem(exc)
                problems.append(problem[:300])
                messages += [
                    AIMessage(text or "(empty reply)"),
                    HumanMessage(f"That answer is invalid: {problem}\nReply again with corrected JSON only."),
                ]
                continue
            if self._cache is not None:
                self._cache.put_many(LLM_ANSWERS, {key: answer.model_dump(mode="json")})
            return answer
        raise LLMOutputError(
            f"{self._identity} gave no valid {schema.__name__} after {self.retries + 1} attempts: "
            f"{'; '.join(problems)}"
        )
