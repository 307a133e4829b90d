"""What the graphs/ entry points share: the run context, the chat model, the auth notice.

Imported as `graphs.common`: `langgraph dev` puts the directory it runs in (the repository
root) on sys.path, as do the tests.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from langmem_plugin.content import message_text
from langmem_plugin.integrations.recall import HEADER

OPEN_SERVER_NOTICE = (
    "graphs/: the server runs without authentication, so every client chooses its user "
    "(context={'user_id': ...}) and can read any user's memories. Serve graphs/langgraph.auth.json "
    "to authenticate users (docs/integrations/scope.md)."
)
REMEMBER = re.compile(r"^\s*remember(?: that)?\s+(?P<fact>.+)$", re.IGNORECASE | re.DOTALL)


@dataclass
class UserContext:
    # Optional so that a run without it reaches the memory integrations, which raise a
    # MissingScopeError naming what is missing (or, with auth, use the authenticated user),
    # rather than a TypeError from the dataclass.
    user_id: str | None = None


def notice_open_server() -> None:
    """Say at start-up when the LangGraph API server authenticates nobody. `langgraph dev` and
    the images `langgraph build` makes pass langgraph.json's `graphs` as LANGSERVE_GRAPHS and its
    `auth` section as LANGGRAPH_AUTH; a script importing the graphs is no server."""
    if os.environ.get("LANGSERVE_GRAPHS") and not os.environ.get("LANGGRAPH_AUTH"):
        logging.getLogger("graphs").warning(OPEN_SERVER_NOTICE)


def chat_model() -> BaseChatModel | None:
    """ChatOpenAI when OPENAI_API_KEY or LANGMEM_LLM__BASE_URL is set, else None (offline)."""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("LANGMEM_LLM__BASE_URL"):
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=os.environ.get("LANGMEM_LLM__MODEL", "gpt-4o-mini"),
            base_url=os.environ.get("LANGMEM_LLM__BASE_URL"),
        )
    return None


class OfflineAgentModel(BaseChatModel):
    """A rule-based stand-in for a tool-calling chat model, so the agent graph runs with no key.

    "Remember (that) X" calls the add_memory tool with X; after a tool result it says "Done.";
    any other turn answers with the memories the middleware put into its system message (or
    says it has none), so a client sees what was recalled."""

    @property
    def _llm_type(self) -> str:
        return "offline-agent"

    def bind_tools(self, tools, **kwargs):
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages))])

    @staticmethod
    def _answer(messages) -> AIMessage:
        if messages and isinstance(messages[-1], ToolMessage):
            return AIMessage("Done.")
        human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        wanted = REMEMBER.match(message_text(human)) if human is not None else None
        if wanted:
            call = {
                "name": "add_memory",
                "args": {"text": wanted["fact"].strip()},
                "id": f"remember-{human.id}",
                "type": "tool_call",
            }
            return AIMessage("", tool_calls=[call])
        system = next((message_text(m) for m in messages if isinstance(m, SystemMessage)), "")
        recalled = system[system.index(HEADER) :] if HEADER in system else ""
        return AIMessage(recalled or "I have no memories about you yet.")


notice_open_server()
