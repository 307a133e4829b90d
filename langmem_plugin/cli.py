"""Command line: `langmem-plugin demo|add|search|list|history|forget`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from .config import MemoryConfig
from .errors import LangMemError
from .memory import Memory


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user-id")
    parser.add_argument("--agent-id")
    parser.add_argument("--run-id")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langmem-plugin", description="Long-term memory for LangChain agents.")
    parser.add_argument("--path", help="memory directory (default: $LANGMEM_PATH or ./.langmem)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="replay a scripted conversation offline and query it")
    demo.add_argument("--demo-path", type=Path, help="where to keep the demo memory (default: a temp dir)")

    add = commands.add_parser("add", help="remember a message")
    add.add_argument("text")
    _scope_arguments(add)
    add.add_argument("--no-infer", action="store_true", help="store the text verbatim")
    add.add_argument("--metadata", type=json.loads, help="JSON object of metadata")
    add.add_argument("--timestamp", help="ISO time the message was said (default: now)")

    search = commands.add_parser("search", help="search memories")
    search.add_argument("query")
    _scope_arguments(search)
    search.add_argument("--limit", type=int, default=5)
    search.add_argument("--filters", type=json.loads, help="JSON metadata filter")

    listing = commands.add_parser("list", help="list memories, newest first")
    _scope_arguments(listing)
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--include-invalidated", action="store_true")

    history = commands.add_parser("history", help="audit log of one memory")
    history.add_argument("memory_id")
    _scope_arguments(history)  # optional: given ids must match the memory's scope

    forget = commands.add_parser("forget", help="erase every memory, history and profile of a scope")
    _scope_arguments(forget)
    forget.add_argument(
        "--across-users", action="store_true", help="allow a scope without --user-id to erase several users' data"
    )

    bench = commands.add_parser("bench", help="run a benchmark (see `bench locomo --help`)")
    bench.add_argument("benchmark", choices=["locomo"])
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    return parser


def _scope(args: argparse.Namespace) -> dict:
    return {"user_id": args.user_id, "agent_id": args.agent_id, "run_id": args.run_id}


def _config(args: argparse.Namespace) -> MemoryConfig:
    config = MemoryConfig.from_env()
    if args.path:
        config = config.model_copy(update={"path": Path(args.path)})
    elif "LANGMEM_PATH" not in os.environ:
        config = config.model_copy(update={"path": Path(".langmem")})
    return config


def _emit(args: argparse.Namespace, payload, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print("\n".join(lines) if lines else "(nothing)")


def _run(args: argparse.Namespace) -> None:
    if args.command == "bench":
        from .bench.locomo import main as locomo_main

        locomo_main(args.bench_args)
        return
    if args.command == "demo":
        from .demo import run_demo

        run_demo(args.demo_path).close()
        return
    with Memory(_config(args)) as memory:
        if args.command == "add":
            ops = memory.add(
                args.text, **_scope(args), infer=not args.no_infer, metadata=args.metadata, timestamp=args.timestamp
            )
            _emit(args, [o.model_dump(mode="json") for o in ops], [f"{o.event.value:<10} {o.memory.id}  {o.memory.text}" for o in ops])
        elif args.command == "search":
            hits = memory.search(args.query, **_scope(args), limit=args.limit, filters=args.filters)
            _emit(args, [h.model_dump(mode="json") for h in hits], [f"{h.score:.4f}  {h.memory.id}  {h.memory.text}" for h in hits])
        elif args.command == "list":
            records = memory.get_all(**_scope(args), limit=args.limit, include_invalidated=args.include_invalidated)
            _emit(args, [r.model_dump(mode="json") for r in records], [f"{r.id}  {r.text}" + ("  [invalidated]" if r.valid_to else "") for r in records])
        elif args.command == "history":
            events = memory.history(args.memory_id, **_scope(args))
            _emit(
                args,
                [e.model_dump(mode="json") for e in events],
                [f"{e.at.isoformat()} {e.event.value:<10} {e.actor}: {e.old_text!r} -> {e.new_text!r}" for e in events],
            )
        elif args.command == "forget":
            count = memory.delete_all(**_scope(args), purge=True, across_users=args.across_users)
            _emit(args, {"deleted": count}, [f"forgot {count} memories, their history and the profile"])


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _run(args)
    except LangMemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
