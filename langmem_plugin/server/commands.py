"""The `serve` and `keys` commands of the command line (cli.py adds their parsers from here).

`serve` runs the app with uvicorn (127.0.0.1:8765 by default), or the MCP server over stdio
bound to the scope its options name. `keys` manages API keys and grants in the store's
key-value tier; a new key is printed once and never stored.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..config import MemoryConfig
from ..errors import InvalidFilterError, InvalidInputError, InvalidScopeError
from ..extras import Requirement, require
from ..memory import Memory
from ..pipeline.validation import check_scope, load_json
from ..records import SCOPE_FIELDS, Scope
from .grants import Grant, Right, parse_rights

DEFAULT_PORT = 8765
SERVER_PACKAGES: list[Requirement] = [
    ("mcp", "mcp", "server"),
    ("fastapi", "fastapi", "server"),
    ("uvicorn", "uvicorn", "server"),
    ("jinja2", "jinja2", "server"),
    ("python_multipart", "python-multipart", "server"),
    ("pypdf", "pypdf", "server"),
]
Emit = Callable[[argparse.Namespace, Any, list[str]], None]


def _scope_options(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group("scope", what)
    group.add_argument("--user-id", help="a user id")
    group.add_argument("--agent-id", help="an agent id")
    group.add_argument("--run-id", help="a run (session) id")


def _rights_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--rights",
        default=default,
        help=f"comma-separated: {', '.join(r.value for r in Right)} (default: {default})",
    )


def add_parsers(commands: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Add `serve` and `keys` to the command line; returns the nested parsers, which take the
    common options (--path, --json) too."""
    serve = commands.add_parser("serve", help="serve the memory over HTTP (REST and MCP) or MCP stdio")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    serve.add_argument(
        "--stdio", action="store_true", help="speak MCP on stdin/stdout, bound to the scope given below"
    )
    _scope_options(serve, "--stdio only: the scope the server is bound to (at least one id)")
    _rights_option(serve, "read,write")

    keys = commands.add_parser("keys", help="manage API keys and grants of `serve`")
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    scope_help = "the scope the grant covers: these ids, and/or --scope (repeatable) for more scopes"

    create = actions.add_parser("create", help="a new key for a principal (shown once), with a grant")
    create.add_argument("principal", help="who the key acts as, e.g. support-bot")
    create.add_argument("--label", help="a note to tell keys apart")
    _scope_options(create, scope_help + " (none: the key only, for a principal with grants)")
    create.add_argument(
        "--scope", action="append", default=[], help="a scope key, e.g. 'user_id=alice|agent_id=bot7'"
    )
    _rights_option(create, "read,write")

    actions.add_parser("list", help="every key (never its secret)")

    revoke = actions.add_parser("revoke", help="revoke a key: its next call is refused")
    revoke.add_argument("key_id", help="the key id, as keys list shows it")

    grant = actions.add_parser("grant", help="give a principal rights over scopes")
    grant.add_argument("principal", help="who receives the grant, e.g. analytics")
    _scope_options(grant, scope_help)
    grant.add_argument(
        "--scope", action="append", default=[], help="a scope key, e.g. 'user_id=alice|agent_id=bot7'"
    )
    _rights_option(grant, "read")
    grant.add_argument(
        "--filters", help='read grants only: JSON metadata conditions, e.g. \'{"topic": "billing"}\''
    )

    grants = actions.add_parser("grants", help="every grant, or a principal's")
    grants.add_argument("--principal", help="only the grants held by this principal")

    ungrant = actions.add_parser("ungrant", help="revoke a grant: its holder's next call is refused")
    ungrant.add_argument("grant_id", help="the grant id, as keys grants shows it")
    return [create, *(actions.choices[name] for name in ("list", "revoke", "grant", "grants", "ungrant"))]


def _rights(args: argparse.Namespace) -> frozenset[Right]:
    return parse_rights(name.strip() for name in args.rights.split(",") if name.strip())


def _scopes(args: argparse.Namespace, limits) -> list[Scope]:
    """The scope of the id options (if any) and each --scope key, validated like any scope."""
    scopes = []
    if any(getattr(args, field) is not None for field in SCOPE_FIELDS):
        scopes.append(check_scope(limits, args.user_id, args.agent_id, args.run_id))
    for key in getattr(args, "scope", []):
        parsed = Scope.from_key(key)
        if not parsed.as_filter():
            raise InvalidScopeError(
                f"--scope {key!r} is not a scope key such as 'user_id=alice|agent_id=bot7'"
            )
        scopes.append(check_scope(limits, parsed.user_id, parsed.agent_id, parsed.run_id))
    return scopes


def _grant_line(grant: Grant) -> str:
    scopes = "; ".join(", ".join(f"{k}={v!r}" for k, v in s.as_filter().items()) for s in grant.scopes)
    rights = ", ".join(sorted(r.value for r in grant.rights))
    filters = f" where {grant.filters}" if grant.filters else ""
    return f"{grant.id}  {grant.principal}: {rights} over {scopes}{filters} (by {grant.granted_by})"


def run_serve(args: argparse.Namespace, config: MemoryConfig) -> None:
    require(SERVER_PACKAGES, "langmem-plugin serve")
    rights = _rights(args)
    if args.stdio:
        scopes = _scopes(args, config.limits)
        if not scopes:
            raise InvalidInputError(
                "serve --stdio is bound to one scope: give --user-id, --agent-id or --run-id"
            )
        from .stdio import run_stdio

        with Memory(config) as memory:
            run_stdio(memory, scopes[0], rights)
        return
    if any(getattr(args, field) is not None for field in SCOPE_FIELDS):
        raise InvalidInputError(
            "scope ids bind the stdio server; over HTTP, each key's grants give the scope"
        )
    if not 0 < args.port < 65536:
        raise InvalidInputError(f"--port must be between 1 and 65535, got {args.port}")
    import uvicorn

    from .app import create_app

    with Memory(config) as memory:
        uvicorn.run(create_app(memory, host=args.host), host=args.host, port=args.port, access_log=False)


def run_keys(args: argparse.Namespace, config: MemoryConfig, emit: Emit) -> None:
    from .keys import Keyring

    filters = None
    if getattr(args, "filters", None) is not None:
        filters = load_json(args.filters, "--filters", InvalidFilterError)
    # only create and grant take --rights, parsed before the store opens; the other actions grant nothing
    rights: frozenset[Right] = _rights(args) if hasattr(args, "rights") else frozenset()
    scopes = _scopes(args, config.limits) if hasattr(args, "scope") else []
    with Memory(config) as memory:
        keyring = Keyring(memory.services.kv)
        command = args.keys_command
        if command == "create":
            key, record = keyring.create_key(args.principal, args.label)
            grant = keyring.grant(args.principal, scopes, rights, "command line") if scopes else None
            lines = [
                f"key {key}",
                "  (shown once: store it now; only its hash is kept)",
                f"key id {record['key_id']}",
            ]
            lines += [f"grant {_grant_line(grant)}"] if grant else []
            emit(args, {"key": key, **record, "grant": grant.to_dict() if grant else None}, lines)
        elif command == "list":
            listed = keyring.keys()
            lines = [
                f"{k['key_id']}  {k['principal']}  {k['created_at']}  {k['label'] or ''}".rstrip()
                for k in listed
            ]
            emit(args, listed, lines)
        elif command == "revoke":
            record = keyring.revoke_key(args.key_id)
            emit(args, record, [f"revoked key {record['key_id']} of {record['principal']}"])
        elif command == "grant":
            if not scopes:
                raise InvalidInputError(
                    "keys grant needs a scope: --user-id, --agent-id, --run-id or --scope"
                )
            grant = keyring.grant(args.principal, scopes, rights, "command line", filters)
            emit(args, grant.to_dict(), [_grant_line(grant)])
        elif command == "grants":
            found = keyring.grants_of(args.principal) if args.principal else keyring.all_grants()
            emit(args, [g.to_dict() for g in found], [_grant_line(g) for g in found])
        elif command == "ungrant":
            grant = keyring.revoke_grant(args.grant_id)
            emit(args, grant.to_dict(), [f"revoked {_grant_line(grant)}"])
