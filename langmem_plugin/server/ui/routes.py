"""The inspector's pages and actions under /ui, rendered on the server (Jinja2, autoescaped: memory
text is user content and always renders as text) with one small script for the entity graph.

Every page and action is a `MemoryActions` call (door `ui`) for the caller of the browser's
session: the grants decide on the server what it shows and allows, exactly as over REST, and
the access log records it. Every form that changes something carries the session's CSRF token,
and every answer carries a Content-Security-Policy that allows the package's own script and
stylesheet only (no inline script, no third-party request: the page works offline).
"""

from __future__ import annotations

import hmac
import io
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import jinja2
import pypdf
from fastapi import APIRouter, Depends, Form, Request
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope as AsgiScope, Send

from ...errors import (
    ForgedRequestError,
    InvalidFilterError,
    LangMemError,
    MemoryNotFoundError,
    NotGrantedError,
    UnauthenticatedError,
)
from ...memory import Memory
from ...parts import Attachment
from ...pipeline.forget import indexed_memories
from ...pipeline.validation import check_optional_scope, load_json
from ...records import MemoryRecord, Scope, utc_now
from ..actions import MemoryActions
from ..grants import Caller, Right, resolve
from ..keys import Keyring
from ..responses import STATUSES
from . import charts
from .sessions import SESSION_SECONDS, close_session, find_session, open_session

logger = logging.getLogger(__name__)

PREFIX = "/ui"
SESSION_COOKIE = "langmem_session"
LOGIN_COOKIE = "langmem_login"
SEARCH_LIMIT = 20
# raster images the browser shows inline; any other type (SVG, HTML, PDF...) is a download
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
TEXT_PREVIEW_CHARS = 4000
_HERE = Path(__file__).parent
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
)
router = APIRouter(prefix=PREFIX, include_in_schema=False)
static_files = StaticFiles(directory=_HERE / "static")


class InspectorHeaders:
    """Adds the security headers to every answer under /ui (pages, errors, static files)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True)
class Visitor:
    """The browser's session: its caller (read afresh for this request) and its CSRF token."""

    caller: Caller
    csrf: str
    actions: MemoryActions

    def check_form(self, presented: str) -> None:
        if not hmac.compare_digest(presented.encode(), self.csrf.encode()):
            raise ForgedRequestError("this form does not carry the session's CSRF token: reload the page")


def _memory(request: Request) -> Memory:
    return request.app.state.memory


def visitor(request: Request) -> Visitor:
    """FastAPI dependency: the session's visitor; UnauthenticatedError (the login page) without one."""
    memory = _memory(request)
    session = find_session(memory.services.kv, request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise UnauthenticatedError("log in with an API key")
    caller = Keyring(memory.services.kv).caller_of_key(session["key_id"])
    return Visitor(caller, session["csrf"], MemoryActions(memory, caller, "ui"))


Session = Annotated[Visitor, Depends(visitor)]
Csrf = Annotated[str, Form()]


class ScopeIds(TypedDict):
    user_id: str | None
    agent_id: str | None
    run_id: str | None


@dataclass(frozen=True)
class Ids:
    """The scope ids a page names (query string or form), as REST routes take them."""

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    def ids(self) -> ScopeIds:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "run_id": self.run_id}

    def given(self) -> dict[str, str]:
        return Scope(user_id=self.user_id, agent_id=self.agent_id, run_id=self.run_id).as_filter()


def query_ids(user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None) -> Ids:
    return Ids(user_id or None, agent_id or None, run_id or None)


def form_ids(
    user_id: Annotated[str, Form()] = "",
    agent_id: Annotated[str, Form()] = "",
    run_id: Annotated[str, Form()] = "",
) -> Ids:
    return Ids(user_id or None, agent_id or None, run_id or None)


QueryIds = Annotated[Ids, Depends(query_ids)]
FormIds = Annotated[Ids, Depends(form_ids)]


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _rights(session: Visitor, ids: Ids) -> set[str]:
    """The rights the caller holds over the scope these ids resolve to (to offer its actions;
    each action is checked again when it runs)."""
    narrowed = check_optional_scope(session.actions.services.config.limits, **ids.ids())
    held = set()
    for right in Right:
        try:
            resolve(session.caller, right, narrowed)
        except LangMemError:
            continue
        held.add(right.value)
    return held


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def error_page(request: Request, error: Exception) -> Response:
    """A refused page or action, as a page with the error's status; no session: the login page."""
    if isinstance(error, UnauthenticatedError):
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    if not isinstance(error, LangMemError):
        logger.error("unexpected error in an inspector page", exc_info=error)
        return _page(request, "error.html", 500, kind="InternalServerError", message="the server failed")
    status = next(code for kind, code in STATUSES if isinstance(error, kind))
    return _page(request, "error.html", status, kind=type(error).__name__, message=str(error))


# -- session -----------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, failed: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = _page(request, "login.html", 401 if failed else 200, csrf=token, failed=failed)
    _cookie(response, request, LOGIN_COOKIE, token, 600)
    return response


@router.post("/login")
def login(request: Request, key: Annotated[str, Form()], csrf: Csrf = "") -> Response:
    """Open a session with an API key (a login form posted from another site carries no token)."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
        raise ForgedRequestError("the login form expired or came from another site: reload it")
    kv = _memory(request).services.kv
    try:
        caller = Keyring(kv).authenticate(key.strip())
    except UnauthenticatedError:
        return RedirectResponse(f"{PREFIX}/login?failed=1", status_code=303)
    assert caller.key_id is not None  # a key proven over HTTP always has an id
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    _cookie(response, request, SESSION_COOKIE, open_session(kv, caller.key_id), SESSION_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
def logout(request: Request, session: Session, csrf: Csrf = "") -> Response:
    session.check_form(csrf)
    close_session(_memory(request).services.kv, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


# -- views -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeRow:
    scope: Scope
    current: int
    invalidated: int
    granted: bool


def _scope_rows(session: Visitor, limit: int) -> tuple[list[ScopeRow], list[str]]:
    """Each scope the caller may read (its grants' scopes and the scopes of memories within them)
    with its counts of current and invalidated memories; errors of scopes that could not be read."""
    grant_scopes = {own for grant in session.caller.grants if grant.gives(Right.READ) for own in grant.scopes}
    records: dict[str, MemoryRecord] = {}
    problems = []
    for own in sorted(grant_scopes, key=Scope.key):
        try:
            listed = session.actions.records(**own.model_dump(), limit=limit, include_invalidated=True)
        except LangMemError as exc:
            problems.append(f"{own.key()}: {exc}")
            continue
        records.update((record.id, record) for record in listed)
    scopes = grant_scopes | {record.scope for record in records.values()}
    rows = []
    for scope in sorted(scopes, key=Scope.key):
        within = [record for record in records.values() if scope.matches(record.scope)]
        current = sum(record.is_valid for record in within)
        rows.append(ScopeRow(scope, current, len(within) - current, scope in grant_scopes))
    return rows, problems


@router.get("/")
def scopes_page(request: Request, session: Session) -> Response:
    limit = session.actions.services.config.limits.max_limit
    rows, problems = _scope_rows(session, limit)
    return _page(request, "scopes.html", session=session, rows=rows, problems=problems, limit=limit)


@router.get("/scope")
def scope_page(
    request: Request,
    session: Session,
    ids: QueryIds,
    q: str = "",
    filters: str = "",
    invalidated: bool = False,
    expired: bool = False,
) -> Response:
    """One scope's memories (with a search box, metadata filters and the invalidated and expired
    toggles) and its plots."""
    conditions = load_json(filters, "filters", InvalidFilterError) if filters.strip() else None
    limit = session.actions.services.config.limits.max_limit
    listed = session.actions.records(
        **ids.ids(), limit=limit, filters=conditions, include_invalidated=invalidated, include_expired=expired
    )
    hits = session.actions.hits(q, **ids.ids(), limit=SEARCH_LIMIT, filters=conditions) if q.strip() else None
    return _page(
        request,
        "scope.html",
        session=session,
        ids=ids.given(),
        rights=_rights(session, ids),
        memories=listed,
        hits=hits,
        q=q,
        filters=filters,
        invalidated=invalidated,
        expired=expired,
        now=utc_now(),
        charts=charts.charts(listed),
        limit=limit,
    )


@router.get("/memories/{memory_id}")
def memory_page(request: Request, session: Session, memory_id: str) -> Response:
    """One memory: its text, both clocks, its sources, and its history as a timeline. A deleted
    memory shows its history alone."""
    events = session.actions.events(memory_id)
    try:
        record: MemoryRecord | None = session.actions.record(memory_id, include_expired=True)
    except MemoryNotFoundError:
        record = None
    ids = Ids(**events[0].scope.model_dump())
    return _page(
        request,
        "memory.html",
        session=session,
        record=record,
        previews=[] if record is None else [_preview(session, record.id, a) for a in record.attachments],
        now=utc_now(),
        events=events,
        ids=ids.given(),
        rights=_rights(session, ids),
    )


@dataclass(frozen=True)
class Preview:
    """How the memory page shows an attachment: an image inline, a text file's beginning as
    text, anything else as a download; a reference (URL, provider file id) by name only."""

    attachment: Attachment
    show: str  # image | text | download | reference
    text: str = ""


def _text_start(data: bytes) -> str:
    """The first TEXT_PREVIEW_CHARS characters of a text file (a UTF-8 character has at most 4 bytes)."""
    return data[: 4 * TEXT_PREVIEW_CHARS].decode("utf-8", errors="replace")[:TEXT_PREVIEW_CHARS]


def _pdf_first_page(data: bytes) -> str:
    """The text of a PDF's first page (pypdf, pure Python: no native parser reads stored files)."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        text = reader.pages[0].extract_text() if reader.pages else ""
    except (pypdf.errors.PyPdfError, ValueError, KeyError, IndexError) as exc:
        return f"(this PDF could not be read: {exc})"
    return text[:TEXT_PREVIEW_CHARS] or "(the first page has no text)"


def _preview(session: Visitor, memory_id: str, attachment: Attachment) -> Preview:
    if attachment.sha256 is None:
        return Preview(attachment, "reference")
    if attachment.mime_type in INLINE_IMAGES:
        return Preview(attachment, "image")
    if attachment.mime_type == "application/pdf":
        _, data = session.actions.attachment(memory_id, attachment.sha256)
        return Preview(attachment, "pdf", _pdf_first_page(data))
    if (attachment.mime_type or "").startswith("text/"):
        _, data = session.actions.attachment(memory_id, attachment.sha256)
        return Preview(attachment, "text", _text_start(data))
    return Preview(attachment, "download")


@router.get("/memories/{memory_id}/attachments/{sha256}")
def attachment_bytes(session: Session, memory_id: str, sha256: str) -> Response:
    """An attachment's bytes: raster images inline, anything else (SVG and HTML included) only
    as a download, so that no stored file runs in the inspector's origin."""
    attachment, data = session.actions.attachment(memory_id, sha256)
    if attachment.mime_type in INLINE_IMAGES:
        return Response(data, media_type=attachment.mime_type)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in attachment.name or sha256)[:100]
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get("/graph")
def graph_page(request: Request, session: Session, ids: QueryIds) -> Response:
    """The picture's frame; its data (graph.json) is checked again when the script reads it."""
    if "read" not in _rights(session, ids):
        raise NotGrantedError(
            f"{session.caller.principal!r} has no read grant over {ids.given() or 'its scope'}"
        )
    return _page(request, "graph.html", session=session, ids=ids.given())


@router.get("/graph.json")
def graph_data(session: Session, ids: QueryIds) -> JSONResponse:
    """The scope's entities and relations, for the graph picture (static/graph.js)."""
    around = session.actions.graph(**ids.ids())
    nodes = [{"id": entity.id, "name": entity.name, "type": entity.type} for entity in around.entities]
    known = {node["id"] for node in nodes}
    edges = [
        {
            "source": relation.source_id,
            "target": relation.target_id,
            "relation": relation.relation,
            "current": relation.valid_to is None,
            "memory_id": relation.memory_id,
        }
        for relation in around.relations
        if relation.source_id in known and relation.target_id in known
    ]
    return JSONResponse({"nodes": nodes, "edges": edges})


@router.get("/export")
def export(session: Session, ids: QueryIds) -> JSONResponse:
    document = session.actions.export(**ids.ids())
    name = "-".join(f"{field}-{value}" for field, value in document["scope"].items())
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100]
    return JSONResponse(document, headers={"content-disposition": f'attachment; filename="{safe}.json"'})


# -- actions -----------------------------------------------------------------------------------


@router.post("/memories/{memory_id}/edit")
def edit_memory(session: Session, memory_id: str, text: Annotated[str, Form()], csrf: Csrf = "") -> Response:
    session.check_form(csrf)
    session.actions.update(memory_id, text)
    return RedirectResponse(f"{PREFIX}/memories/{memory_id}", status_code=303)


@router.post("/memories/{memory_id}/expiry")
def set_expiry(
    session: Session, memory_id: str, expires_at: Annotated[str, Form()] = "", csrf: Csrf = ""
) -> Response:
    """Set when the memory expires (an ISO-8601 time); an empty time clears the expiry."""
    session.check_form(csrf)
    session.actions.set_expiry(memory_id, expires_at.strip() or None)
    return RedirectResponse(f"{PREFIX}/memories/{memory_id}", status_code=303)


@router.post("/memories/{memory_id}/delete")
def delete_memory(session: Session, memory_id: str, csrf: Csrf = "") -> Response:
    session.check_form(csrf)
    session.actions.delete(memory_id)
    return RedirectResponse(f"{PREFIX}/memories/{memory_id}", status_code=303)


@router.get("/erase")
def erase_page(request: Request, session: Session, ids: QueryIds) -> Response:
    """The confirmation of a purge, naming what it erases."""
    scope = resolve(
        session.caller,
        Right.FORGET,
        check_optional_scope(session.actions.services.config.limits, **ids.ids()),
    ).scope
    limit = session.actions.services.config.limits.max_limit
    listed = session.actions.records(**scope.model_dump(), limit=limit, include_invalidated=True)
    profile = session.actions.get_profile(**scope.model_dump())["profile"]
    ever = indexed_memories(session.actions.services, scope)
    subscopes = sorted({owner for owner in ever.values() if owner != scope}, key=Scope.key)
    return _page(
        request,
        "erase.html",
        session=session,
        ids=scope.as_filter(),
        memories=listed,
        current=sum(record.is_valid for record in listed),
        histories=len(ever),
        profile_keys=sorted(profile),
        subscopes=subscopes,
        limit=limit,
    )


@router.post("/erase")
def erase(request: Request, session: Session, ids: FormIds, csrf: Csrf = "") -> Response:
    session.check_form(csrf)
    done = session.actions.forget(**ids.ids(), purge=True)
    return _page(request, "erased.html", session=session, done=done)
