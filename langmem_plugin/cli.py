"""Command line: `langmem-plugin demo|add|search|list|history|import|export|forget|bench`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from . import progress
from .config import MemoryConfig
from .errors import InvalidInputError, LangMemError, MemoryNotFoundError, MissingScopeError
from .history_text import history_lines
from .memory import Memory
from .records import Scope

IMPORT_BATCH = 20


READ_SCOPE = "whose memories to read; ids left out match anything (give --user-id in a multi-user app)"


def _scope_arguments(parser: argparse.ArgumentParser, description: str = READ_SCOPE) -> None:
    scope = parser.add_argument_group("scope", description)
    scope.add_argument("--user-id", help="the user the memories belong to (e.g. alice)")
    scope.add_argument("--agent-id", help="the agent the memories belong to (e.g. a bot's name)")
    scope.add_argument("--run-id", help="one conversation or session of that user / agent")


def _json_argument(value: str):
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langmem-plugin", description="Long-term memory for LangChain agents.")
    parser.add_argument("--path", help="memory directory (default: $LANGMEM_PATH or ./.langmem)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="replay a scripted conversation offline and query it")
    demo.add_argument("--demo-path", type=Path, help="where to keep the demo memory (default: a temp dir)")

    add = commands.add_parser("add", help="remember a message")
    add.add_argument("text", help="what the user said, in their words (\"I love green curry\")")
    _scope_arguments(add, "who the memory belongs to (at least one id)")
    add.add_argument("--name", help="the speaker's name (default: the --user-id, capitalised: alice -> Alice)")
    add.add_argument("--no-infer", action="store_true", help="store the text verbatim instead of extracting facts")
    add.add_argument("--metadata", type=_json_argument, help='JSON object of metadata, e.g. \'{"topic": "food"}\'')
    add.add_argument("--timestamp", help="ISO time the message was said (default: now); the fact is valid from then")

    search = commands.add_parser("search", help="search memories")
    search.add_argument("query", help="a question or keywords")
    _scope_arguments(search)
    search.add_argument("--limit", type=int, default=5, help="at most this many results (default: 5)")
    search.add_argument("--filters", type=_json_argument, help='JSON metadata filter, e.g. \'{"topic": "food"}\'')

    listing = commands.add_parser("list", help="list memories, newest first")
    _scope_arguments(listing)
    listing.add_argument("--limit", type=int, default=100, help="at most this many memories (default: 100)")
    listing.add_argument("--include-invalidated", action="store_true", help="also list facts that stopped being true")

    history = commands.add_parser(
        "history", help="how one memory changed: when it was learned, and when the fact was true"
    )
    history.add_argument("memory_id", help="the memory's id, as printed by add, search or list")
    _scope_arguments(history, "optional: given ids must match the memory's owner")

    importing = commands.add_parser(
        "import", help="bulk-load a JSON / JSONL conversation export (messages, LoCoMo, ChatGPT, or our export)"
    )
    importing.add_argument("file", help="the JSON or JSONL file, or - for stdin")
    _scope_arguments(importing, "who the imported memories belong to (at least one id)")
    importing.add_argument(
        "--no-infer", action="store_true", help="store every message verbatim instead of extracting facts"
    )
    importing.add_argument(
        "--batch-size", type=int, default=IMPORT_BATCH, help=f"messages per add() call (default: {IMPORT_BATCH})"
    )

    export = commands.add_parser("export", help="write one user's memories with their history (JSON or JSONL)")
    _scope_arguments(export, "whose memories to export: --user-id is required")
    export.add_argument("--format", choices=["json", "jsonl"], default="json", help="one JSON document (default), or one memory a line")
    export.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    export.add_argument("--include-invalidated", action="store_true", help="also export facts that stopped being true")

    forget = commands.add_parser("forget", help="erase every memory, history and profile of a scope")
    _scope_arguments(forget, "whose data to erase, sub-scopes included")
    forget.add_argument(
        "--across-users", action="store_true", help="allow a scope without --user-id to erase several users' data"
    )

    bench = commands.add_parser("bench", help="run a benchmark (see `bench locomo --help`)")
    bench.add_argument("benchmark", choices=["locomo"], help="which benchmark")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="the benchmark's own options")
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


def _history(args: argparse.Namespace, memory: Memory) -> None:
    events = memory.history(args.memory_id, **_scope(args))
    try:
        record = memory.get(args.memory_id, **_scope(args))
    except MemoryNotFoundError:
        record = None  # deleted: the audit log outlives it until a purge
    _emit(
        args,
        {"memory": record.model_dump(mode="json") if record else None, "events": [e.model_dump(mode="json") for e in events]},
        history_lines(args.memory_id, record, events),
    )


def _import(args: argparse.Namespace) -> None:
    from .transfer import plan_import, read_document, run_import

    scope = Scope(**_scope(args))
    scope.required_filter()  # no scope, or a bad file, fails before the model loads
    plan = plan_import(read_document(args.file), args.batch_size)
    with progress.step("loading the memory and its embedding model"):
        memory = Memory(_config(args))
    with memory, progress.tracked("importing messages", sum(len(b.messages) for b in plan.batches)) as bar:
        summary = run_import(memory, plan, scope, infer=not args.no_infer, advance=bar.advance)
    _emit(args, summary.__dict__, summary.lines())


def _export(args: argparse.Namespace, memory: Memory) -> None:
    from .transfer import export_document

    if args.user_id is None:
        raise MissingScopeError("export needs --user-id: it writes one user's memories")
    document = export_document(memory, Scope(**_scope(args)), args.include_invalidated)
    if args.format == "json":
        text = json.dumps(document, indent=2) + "\n"
    else:
        text = "".join(json.dumps(item) + "\n" for item in document["memories"])
    if args.output is None:
        sys.stdout.write(text)
        return
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {args.output}: {exc}") from exc
    print(f"exported {len(document['memories'])} memories with their history to {args.output}", file=sys.stderr)


def _run(args: argparse.Namespace) -> None:
    if args.command == "bench":
        from .bench.locomo import main as locomo_main

        locomo_main(args.bench_args)
        return
    if args.command == "demo":
        from .demo import run_demo

        run_demo(args.demo_path).close()
        return
    if args.command == "import":
        _import(args)
        return
    with Memory(_config(args)) as memory:
        if args.command == "add":
            message = {"role": "user", "content": args.text, "name": args.name}
            ops = memory.add(
                message, **_scope(args), infer=not args.no_infer, metadata=args.metadata, timestamp=args.timestamp
            )
            _emit(args, [o.model_dump(mode="json") for o in ops], [f"{o.event.value:<10} {o.memory.id}  {o.memory.text}" for o in ops])
        elif args.command == "search":
            hits = memory.search(args.query, **_scope(args), limit=args.limit, filters=args.filters)
            _emit(args, [h.model_dump(mode="json") for h in hits], [f"{h.score:.4f}  {h.memory.id}  {h.memory.text}" for h in hits])
        elif args.command == "list":
            records = memory.get_all(**_scope(args), limit=args.limit, include_invalidated=args.include_invalidated)
            _emit(args, [r.model_dump(mode="json") for r in records], [f"{r.id}  {r.text}" + ("  [invalidated]" if r.valid_to else "") for r in records])
        elif args.command == "history":
            _history(args, memory)
        elif args.command == "export":
            _export(args, memory)
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


if __name__ == "__main__":
    sys.exit(main())
