"""A chatbot that remembers a user across threads (LangGraph memory subgraph + model node).

    python examples/chatbot_remembers.py

Offline by default (scripted model, embedded tiers in a temp dir); with OPENAI_API_KEY or
LANGMEM_LLM__BASE_URL set, graphs/chatbot.py uses ChatOpenAI instead.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: graphs/

from graphs.chatbot import UserContext, build_chatbot  # noqa: E402
from langchain_core.messages import HumanMessage  # noqa: E402

from langmem_plugin import Memory  # noqa: E402

with Memory({"path": tempfile.mkdtemp(prefix="chatbot-")}) as memory:
    bot = build_chatbot(memory)
    ana = UserContext(user_id="ana")
    bot.invoke({"messages": [HumanMessage("I'm a vegetarian and I live in Porto.")]}, context=ana, config={"configurable": {"thread_id": "monday"}})
    question = [HumanMessage("Where do I live, and what do I eat?")]
    reply = bot.invoke({"messages": question}, context=ana, config={"configurable": {"thread_id": "friday"}})
    print("thread 'friday' recalled:\n" + reply["memory_context"])
    other = bot.invoke({"messages": question}, context=UserContext(user_id="bob"))
    print(f"bob's recall: {other['memory_context']!r}")
