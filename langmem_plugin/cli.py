"""Command line: `langmem-plugin demo|add|search|list|get|update|delete|history|import|export|forget|
sweep|consolidate|bench`, and `serve|keys` (server/commands.py).

Every error is one line on stderr and exit status 2 (with `--json`, a JSON object
`{"error": {"type", "message"}}` instead of the text line), raised before anything is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import NoReturn

from . import progress
from .config import MemoryConfig
from .encryption import KeyFile, generate_master_key
from .encryption.rotation import rotate_master_key
from .errors import (
    InvalidFilterError,
    InvalidInputError,
    InvalidMetadataError,
    LangMemError,
    MemoryNotFoundError,
    MissingDependencyError,
    MissingScopeError,
)
from .history_text import history_lines
from .memory import Memory
from .parts import shared_note
from .pipeline.store_namespaces import namespace_scope
from .pipeline.validation import load_json
from .records import MemoryOperation, MemoryRecord, Scope
from .server.commands import add_parsers as add_server_parsers, run_keys, run_serve
from .tiers.sqlite_common import create_private_file

IMPORT_BATCH = 20
DEFAULT_MAX_MIB = 256  # transfer.DEFAULT_MAX_MIB: that module loads only for import and export


class UsageError(Exception):
    """The command line itself is malformed (argparse's complaint)."""

    def __init__(self, message: str, usage: str):
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """Reports usage errors by raising, so that main() prints them as text or, with --json, as JSON."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage())


READ_SCOPE = "whose memories to read; ids left out match anything (give --user-id in a multi-user app)"


def _scope_arguments(parser: argparse.ArgumentParser, description: str = READ_SCOPE) -> None:
    scope = parser.add_argument_group("scope", description)
    scope.add_argument("--user-id", help="the user the memories belong to (e.g. alice)")
    scope.add_argument("--agent-id", help="the agent the memories belong to (e.g. a bot's name)")
    scope.add_argument("--run-id", help="one conversation or session of that user / agent")


JSON_OPTIONS = {"metadata": InvalidMetadataError, "filters": InvalidFilterError}


def _parse_json_options(args: argparse.Namespace) -> None:
    """JSON-valued options, parsed with the same bounds as any JSON input, before the store opens."""
    for name, error in JSON_OPTIONS.items():
        value = getattr(args, name, None)
        if value is not None:
            setattr(args, name, load_json(value, f"--{name}", error))


BY_ID_OR_TEXT = "with an id: optional, must match the memory's owner; with a {text}: required"
PATH_HELP = "memory directory (default: $LANGMEM_PATH or ./.langmem)"
JSON_HELP = 'print JSON instead of text (errors too, as {"error": {"type", "message"}})'


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="langmem-plugin", description="Long-term memory for LangChain agents.")
    parser.add_argument("--path", help=PATH_HELP)
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="replay a scripted conversation offline and query it")
    demo.add_argument("--demo-path", type=Path, help="where to keep the demo memory (default: a temp dir)")

    add = commands.add_parser("add", help="remember a message or a file")
    add.add_argument("text", nargs="?", help='what the user said, in their words ("I love green curry")')
    add.add_argument(
        "--file",
        type=Path,
        help="remember this file instead of a text: PDF, text, Markdown, CSV or JSON (its chunks "
        "or records are stored as they are; docs/files-and-data.md)",
    )
    _scope_arguments(add, "who the memory belongs to (at least one id)")
    add.add_argument(
        "--name", help="the speaker's name (default: the --user-id, capitalised: alice -> Alice)"
    )
    add.add_argument(
        "--no-infer", action="store_true", help="store the text verbatim instead of extracting facts"
    )
    add.add_argument("--metadata", help='JSON object of metadata, e.g. \'{"topic": "food"}\'')
    add.add_argument(
        "--timestamp", help="ISO time the message was said (default: now); the fact is valid from then"
    )
    add.add_argument("--ttl", type=float, help="seconds until the memories it adds expire")
    add.add_argument("--expires-at", help="ISO time the memories it adds expire (naive: UTC)")

    search = commands.add_parser("search", help="search memories")
    search.add_argument("query", help="a question or keywords")
    _scope_arguments(search)
    search.add_argument("--limit", type=int, default=5, help="at most this many results (default: 5)")
    search.add_argument("--filters", help='JSON metadata filter, e.g. \'{"topic": "food"}\'')

    listing = commands.add_parser("list", help="list memories, newest first")
    _scope_arguments(listing)
    listing.add_argument("--limit", type=int, default=100, help="at most this many memories (default: 100)")
    listing.add_argument(
        "--include-invalidated", action="store_true", help="also list facts that stopped being true"
    )

    get = commands.add_parser("get", help="show one memory")
    get.add_argument("memory_id", help="the memory's id, as printed by add, search or list")
    _scope_arguments(get, "optional: given ids must match the memory's owner")

    update = commands.add_parser(
        "update", help="rewrite one memory by id, or record a statement that corrects what is remembered"
    )
    update.add_argument(
        "target",
        help='a memory id (then TEXT is its new text), or a statement such as "Alice now works at Google", '
        "whose facts replace what they contradict (needs a scope id)",
    )
    update.add_argument("text", nargs="?", help="the memory's new text, when TARGET is a memory id")
    _scope_arguments(update, BY_ID_OR_TEXT.format(text="statement"))
    update.add_argument(
        "--metadata", help="JSON object: the memory's new metadata, or the statement facts' metadata"
    )

    delete = commands.add_parser(
        "delete", help="delete one memory by id, or what a description clearly matches"
    )
    delete.add_argument(
        "target",
        help='a memory id, or a description such as "the Python 2 preference" (needs a scope id; '
        "refuses, deleting nothing, unless it clearly matches)",
    )
    _scope_arguments(delete, BY_ID_OR_TEXT.format(text="description"))
    delete.add_argument(
        "--purge",
        action="store_true",
        help="erase instead of retiring: no history or other trace is left (asks first, unless --yes)",
    )
    delete.add_argument("--yes", action="store_true", help="with --purge: erase without asking")

    history = commands.add_parser(
        "history", help="how one memory changed: when it was learned, and when the fact was true"
    )
    history.add_argument("memory_id", help="the memory's id, as printed by add, search or list")
    _scope_arguments(history, "optional: given ids must match the memory's owner")

    importing = commands.add_parser(
        "import",
        help="bulk-load a JSON / JSONL conversation export (messages, LoCoMo, ChatGPT, or our export)",
    )
    importing.add_argument("file", help="the JSON or JSONL file, or - for stdin")
    _scope_arguments(importing, "who the imported memories belong to (at least one id)")
    importing.add_argument(
        "--no-infer", action="store_true", help="store every message verbatim instead of extracting facts"
    )
    importing.add_argument(
        "--batch-size",
        type=int,
        default=IMPORT_BATCH,
        help=f"messages per add() call (default: {IMPORT_BATCH})",
    )
    importing.add_argument(
        "--start", type=int, default=1, help="resume at this message (1-based), as an interrupted import says"
    )
    importing.add_argument(
        "--max-mib",
        type=int,
        default=DEFAULT_MAX_MIB,
        help=f"refuse a larger file (default: {DEFAULT_MAX_MIB} MiB)",
    )

    export = commands.add_parser(
        "export", help="write one user's memories with their history (JSON or JSONL)"
    )
    _scope_arguments(export, "whose memories to export: --user-id is required")
    export.add_argument(
        "--format",
        choices=["json", "jsonl"],
        default="json",
        help="one JSON document (default), or one memory a line",
    )
    export.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    export.add_argument(
        "--include-invalidated", action="store_true", help="also export facts that stopped being true"
    )

    forget = commands.add_parser("forget", help="erase every memory, history and profile of a scope")
    _scope_arguments(forget, "whose data to erase, sub-scopes included")
    forget.add_argument(
        "--namespace",
        nargs="+",
        metavar="LABEL",
        help="instead of --user-id: the items of a LangGraph store namespace kept by MemoryStore "
        "(e.g. --namespace memories alice)",
    )
    forget.add_argument(
        "--across-users",
        action="store_true",
        help="allow a scope without --user-id to erase several users' data",
    )
    forget.add_argument("--yes", action="store_true", help="erase without asking for confirmation")

    commands.add_parser(
        "sweep",
        help="erase every memory whose expiry or retention period has passed (safe from several "
        "processes at once, e.g. from cron)",
    )

    consolidate = commands.add_parser(
        "consolidate",
        help="merge near-duplicate memories, retire superseded facts and (with an LLM) summarise old turns",
    )
    _scope_arguments(consolidate, "whose memories to consolidate, each sub-scope on its own")
    consolidate.add_argument(
        "--revert", action="store_true", help="undo the scope's latest consolidation instead"
    )

    bench = commands.add_parser("bench", help="run a benchmark (see `bench locomo --help`)")
    bench.add_argument("benchmark", choices=["locomo"], help="which benchmark")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="the benchmark's own options")
    encryption = commands.add_parser("encryption", help="encryption at rest: make a master key, rotate it")
    actions = encryption.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("generate-key", help="print a new master key (32 random bytes, URL-safe base64)")
    rotate = actions.add_parser(
        "rotate",
        help="re-wrap the store's data keys under a new master key (the current one comes from "
        "LANGMEM_ENCRYPTION_KEY or LANGMEM_ENCRYPTION__KEY_FILE)",
    )
    rotate.add_argument("--new-key-file", type=Path, required=True, help="file holding the new master key")
    nested = [*add_server_parsers(commands), *actions.choices.values()]
    for command in [*commands.choices.values(), *nested]:
        # the same two options after the command (`list --json`); SUPPRESS keeps a value given before it
        command.add_argument("--path", default=argparse.SUPPRESS, help=PATH_HELP)
        command.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=JSON_HELP)
    return parser


def _scope(args: argparse.Namespace) -> dict:
    return {"user_id": args.user_id, "agent_id": args.agent_id, "run_id": args.run_id}


def _forget_scope(args: argparse.Namespace) -> dict:
    """`forget`'s scope: the ids given, or a store namespace's (whose user id no option can name)."""
    if args.namespace is None:
        return _scope(args)
    if args.user_id is not None:
        raise InvalidInputError("give --namespace or --user-id, not both: a namespace is a scope of its own")
    return {**_scope(args), "user_id": namespace_scope(tuple(args.namespace))}


def _confirm_erasure(args: argparse.Namespace) -> None:
    """`forget`, and `delete --purge`, erase for good: they ask on stderr and read the answer from
    stdin (a pipe answers too), unless --yes. Anything but y / yes erases nothing."""
    if args.command == "forget":
        ids = _forget_scope(args)
        named = ", ".join(f"{key}={value!r}" for key, value in ids.items() if value is not None)
        what = f"every memory, history and profile of {named or 'no scope'}, sub-scopes included"
    elif args.command == "delete" and args.purge:
        what = f"{args.target!r} (memory id or description) with its history"
    else:
        return
    if args.yes:
        return
    print(f"erase {what}? This cannot be undone. [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise InvalidInputError("not confirmed: nothing was erased (answer y, or pass --yes)")


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


def _emit_operations(args: argparse.Namespace, operations: list[MemoryOperation]) -> None:
    lines = [f"{o.event.value:<10} {o.memory.id}  {o.memory.text}" for o in operations]
    _emit(args, [o.model_dump(mode="json") for o in operations], lines)


def _record_line(record: MemoryRecord) -> str:
    invalidated = "  [invalidated]" if record.valid_to else ""
    return f"{record.id}  {record.text}{shared_note(record.attachments)}{invalidated}"


def _list(args: argparse.Namespace, memory: Memory) -> None:
    """One more than asked is read, so that a listing cut at its limit says so."""
    most = memory.config.limits.max_limit
    probe = args.limit + 1 if isinstance(args.limit, int) and 0 < args.limit < most else args.limit
    records = memory.get_all(**_scope(args), limit=probe, include_invalidated=args.include_invalidated)
    shown = records[: args.limit]
    _emit(args, [r.model_dump(mode="json") for r in shown], [_record_line(r) for r in shown])
    if len(records) > args.limit:
        print(
            f"listed the newest {args.limit} memories; there are more: raise --limit (at most {most})",
            file=sys.stderr,
        )
    elif len(records) == args.limit == most:
        print(f"listed {most} memories, the most one listing returns: there may be more", file=sys.stderr)


def _get(args: argparse.Namespace, memory: Memory) -> None:
    record = memory.get(args.memory_id, **_scope(args))
    lines = [_record_line(record)] + (
        [f"  metadata {json.dumps(record.metadata)}"] if record.metadata else []
    )
    _emit(args, record.model_dump(mode="json"), lines)


def _update(args: argparse.Namespace, memory: Memory) -> None:
    result = memory.update(args.target, args.text, metadata=args.metadata, **_scope(args))
    if isinstance(result, MemoryRecord):
        _emit(args, result.model_dump(mode="json"), [f"{'UPDATE':<10} {result.id}  {result.text}"])
    else:
        _emit_operations(args, result)


def _delete(args: argparse.Namespace, memory: Memory) -> None:
    result = memory.delete(args.target, **_scope(args), purge=args.purge)
    removed = result if isinstance(result, list) else [result]
    event = "ERASE" if args.purge else "DELETE"
    lines = [f"{event:<10} {r.id}  {r.text}" for r in removed]
    _emit(args, [r.model_dump(mode="json") for r in removed], lines)


def _history(args: argparse.Namespace, memory: Memory) -> None:
    events = memory.history(args.memory_id, **_scope(args))
    try:
        record = memory.get(args.memory_id, **_scope(args))
    except MemoryNotFoundError:
        record = None  # deleted: the audit log outlives it until a purge
    _emit(
        args,
        {
            "memory": record.model_dump(mode="json") if record else None,
            "events": [e.model_dump(mode="json") for e in events],
        },
        history_lines(args.memory_id, record, events),
    )


def _import(args: argparse.Namespace) -> None:
    from .pipeline.validation import check_scope
    from .transfer import plan_import, read_document, run_import

    config = _config(args)
    # no scope, a bad bound or a bad file: refused before the model loads
    scope = check_scope(config.limits, **_scope(args))
    if args.max_mib < 1:
        raise InvalidInputError("--max-mib must be at least 1")
    document = read_document(args.file, args.max_mib * 2**20)
    plan = plan_import(document, args.batch_size, config.limits, scope, config.privacy)
    with progress.step("loading the memory and its embedding model"):
        memory = Memory(config)
    with memory, progress.tracked("importing messages", plan.messages - args.start + 1) as bar:
        infer = not args.no_infer
        summary = run_import(memory, plan, scope, infer=infer, advance=bar.advance, start=args.start)
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
        create_private_file(args.output)  # the user's memories: readable by the owner alone
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {args.output}: {exc}") from exc
    print(
        f"exported {len(document['memories'])} memories with their history to {args.output}", file=sys.stderr
    )


def _bench(bench_args: list[str]) -> None:
    """The harness is the langmem_plugin_bench package, shipped beside this one but outside its
    import path, so that the runtime never loads it; it checks its own extra's packages first."""
    if find_spec("langmem_plugin_bench") is None:  # an install made before the package existed
        raise MissingDependencyError(
            "bench needs the langmem_plugin_bench package, which installs with langmem-plugin: "
            'reinstall it (in a checkout: pip install -e ".[bench]")'
        )
    from langmem_plugin_bench.locomo import main as locomo_main

    locomo_main(bench_args)


def _encryption(args: argparse.Namespace) -> None:
    if args.action == "generate-key":
        key = generate_master_key()
        _emit(args, {"key": key}, [key])
        return
    config = _config(args)
    count = rotate_master_key(config, KeyFile(args.new_key_file))
    _emit(
        args,
        {"rewrapped": count},
        [
            f"re-wrapped {count} data keys under the new master key: "
            "use it from now on, then destroy the old one"
        ],
    )


def _run(args: argparse.Namespace) -> None:
    if args.command == "bench":
        _bench(args.bench_args)
        return
    if args.command == "demo":
        from .demo import run_demo

        run_demo(args.demo_path).close()
        return
    if args.command == "import":
        _import(args)
        return
    if args.command == "serve":
        run_serve(args, _config(args))
        return
    if args.command == "keys":
        run_keys(args, _config(args), _emit)
        return
    if args.command == "encryption":
        _encryption(args)
        return
    _parse_json_options(args)
    if args.command == "add" and (args.text is None) == (args.file is None):
        raise InvalidInputError("add takes a text or --file PATH (one of them)")
    _confirm_erasure(args)  # before the memory and its model load
    with Memory(_config(args)) as memory:
        if args.command == "add" and args.file is not None:
            ops = memory.add_file(args.file, **_scope(args), metadata=args.metadata, timestamp=args.timestamp)
            _emit_operations(args, ops)
        elif args.command == "add":
            message = {"role": "user", "content": args.text, "name": args.name}
            infer = not args.no_infer
            ops = memory.add(
                message,
                **_scope(args),
                infer=infer,
                metadata=args.metadata,
                timestamp=args.timestamp,
                ttl=args.ttl,
                expires_at=args.expires_at,
            )
            _emit_operations(args, ops)
        elif args.command == "search":
            hits = memory.search(args.query, **_scope(args), limit=args.limit, filters=args.filters)
            _emit(
                args,
                [h.model_dump(mode="json") for h in hits],
                [f"{h.score:.4f}  {h.memory.id}  {h.memory.text}" for h in hits],
            )
        elif args.command == "list":
            _list(args, memory)
        elif args.command == "get":
            _get(args, memory)
        elif args.command == "update":
            _update(args, memory)
        elif args.command == "delete":
            _delete(args, memory)
        elif args.command == "history":
            _history(args, memory)
        elif args.command == "export":
            _export(args, memory)
        elif args.command == "sweep":
            erased = memory.sweep()
            _emit(args, {"erased": erased}, [f"erased {erased} expired memories"])
        elif args.command == "consolidate":
            _consolidate(args, memory)
        elif args.command == "forget":
            count = memory.delete_all(**_forget_scope(args), purge=True, across_users=args.across_users)
            _emit(args, {"deleted": count}, [f"forgot {count} memories, their history and the profile"])


def _consolidate(args: argparse.Namespace, memory: Memory) -> None:
    done = memory.revert_consolidation(**_scope(args)) if args.revert else memory.consolidate(**_scope(args))
    _emit(args, done.to_dict(), [done.describe()])


def _report(error: Exception, as_json: bool) -> int:
    """One line on stderr, exit status 2: `error: ...`, or with --json a JSON object."""
    message = " ".join(str(error).split())  # a multi-line message (a config's problems) on one line
    if as_json:
        print(json.dumps({"error": {"type": type(error).__name__, "message": message}}), file=sys.stderr)
    else:
        print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        options = argv[: argv.index("--")] if "--" in argv else argv
        if "--json" in options:
            return _report(exc, as_json=True)
        print(exc.usage, end="", file=sys.stderr)
        return _report(exc, as_json=False)
    try:
        _run(args)
    except LangMemError as exc:
        return _report(exc, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
