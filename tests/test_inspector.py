"""The memory inspector over HTTP, as a browser's requests reach it (httpx with a cookie jar): the
session a key opens and what ends it, pages and actions refused without a session, the security
headers, assets served by the package alone, the export, and the plots' arithmetic. The real
browser drives the pages in test_inspector_browser.py."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import markupsafe
import pytest
from fastapi.routing import APIRoute
from hypothesis import given, settings, strategies as st

from langmem_plugin.records import MemoryRecord, Scope, SourceRef
from langmem_plugin.server.grants import Right
from langmem_plugin.server.keys import Keyring
from langmem_plugin.server.namespaces import UI_SESSIONS
from langmem_plugin.server.ui import charts, routes as inspector_routes
from langmem_plugin.server.ui.routes import SECURITY_HEADERS
from langmem_plugin.testing.inspect import stored_bytes
from langmem_plugin.transfer import plan_import, run_import

from .helpers import cli
from .servers import offline_env
from .serving import bearer, inspector_session, make_key, serve_process

UI = Path(__file__).resolve().parents[1] / "langmem_plugin" / "server" / "ui"
# every route but the login form's, with `m1` for a memory id and `s1` for an attachment's sha256
PAGES = [
    "/ui/",
    "/ui/scope",
    "/ui/memories/m1",
    "/ui/memories/m1/attachments/s1",
    "/ui/graph",
    "/ui/graph.json",
    "/ui/export",
    "/ui/erase",
]
ACTIONS = [
    "/ui/memories/m1/edit",
    "/ui/memories/m1/expiry",
    "/ui/memories/m1/delete",
    "/ui/erase",
    "/ui/logout",
]


def test_the_tables_above_name_every_route_of_the_inspector():
    routes = {
        (method, route.path.replace("{memory_id}", "m1").replace("{sha256}", "s1"))
        for route in inspector_routes.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    listed = {("GET", path) for path in PAGES} | {("POST", path) for path in ACTIONS}
    assert routes - {("GET", "/ui/login"), ("POST", "/ui/login")} == listed


def add(site: str, key: str, text: str) -> str:
    answer = httpx.post(f"{site}/v1/memories", json={"messages": text, "infer": False}, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]["id"]


def memory_bytes(memory) -> dict[str, bytes]:
    """The store's files but the sessions' (which a session lookup opens)."""
    return {name: data for name, data in stored_bytes(memory.config).items() if UI_SESSIONS not in name}


def test_without_a_session_every_page_and_action_leads_to_the_login_and_changes_nothing(fast_memory, served):
    key = make_key(fast_memory, "ana-app", "read,write,forget", user_id="ana")
    memory_id = add(served, key, "Ana plays the cello")
    before = memory_bytes(fast_memory)
    with httpx.Client(base_url=served, cookies={"langmem_session": "forged-session-token"}) as anonymous:
        for path in PAGES:
            answer = anonymous.get(path, params={"user_id": "ana"})
            assert (answer.status_code, answer.headers["location"]) == (303, "/ui/login"), path
        for path in [*ACTIONS, f"/ui/memories/{memory_id}/edit", f"/ui/memories/{memory_id}/delete"]:
            answer = anonymous.post(path, data={"user_id": "ana", "text": "changed", "csrf": "x"})
            assert (answer.status_code, answer.headers["location"]) == (303, "/ui/login"), path
        # an API key in the Authorization header opens no inspector page: the inspector takes sessions
        assert anonymous.get("/ui/", headers=bearer(key)).status_code == 303
    assert memory_bytes(fast_memory) == before
    assert fast_memory.services.kv.keys(UI_SESSIONS) == []


def test_a_session_is_an_httponly_strict_cookie_that_holds_no_key_and_ends_with_its_key(fast_memory, served):
    key = make_key(fast_memory, "ben-app", "read,write", user_id="ben")
    add(served, key, "Ben bakes sourdough")
    with httpx.Client(base_url=served) as browser:
        form = browser.get("/ui/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        assert browser.post("/ui/login", data={"key": key}).status_code == 403  # no form token
        wrong = browser.post("/ui/login", data={"key": key[:-2] + "xx", "csrf": token})
        assert (wrong.status_code, wrong.headers["location"]) == (303, "/ui/login?failed=1")
        assert "langmem_session" not in browser.cookies
        assert browser.get("/ui/login?failed=1").status_code == 401
        token = re.search(r'name="csrf" value="([^"]+)"', browser.get("/ui/login").text).group(1)
        answer = browser.post("/ui/login", data={"key": key, "csrf": token})
    cookie = next(header for header in answer.headers.get_list("set-cookie") if "langmem_session=" in header)
    assert {"HttpOnly", "SameSite=strict", "Path=/ui"} <= {part.strip() for part in cookie.split(";")}
    session = cookie.split(";")[0].split("=", 1)[1]
    assert key not in cookie
    assert [name for name, data in stored_bytes(fast_memory.config).items() if session.encode() in data] == []

    with httpx.Client(base_url=served, cookies={"langmem_session": session}) as browser:
        assert "Ben bakes sourdough" in browser.get("/ui/scope").text
        [grant] = Keyring(fast_memory.services.kv).grants_of("ben-app")
        Keyring(fast_memory.services.kv).revoke_grant(grant.id)
        assert browser.get("/ui/scope").status_code == 403  # the grants are read again for each page
        Keyring(fast_memory.services.kv).grant("ben-app", grant.scopes, [Right.READ], "test")
        assert browser.get("/ui/scope").status_code == 200
        Keyring(fast_memory.services.kv).revoke_key(key.split("_")[1])
        assert browser.get("/ui/scope").headers["location"] == "/ui/login"  # and the key


def test_logging_out_ends_the_session_for_every_copy_of_its_cookie(fast_memory, served):
    key = make_key(fast_memory, "cy-app", "read", user_id="cy")
    with inspector_session(served, key) as (client, csrf):
        session = client.cookies["langmem_session"]
        answer = client.post("/ui/logout", data={"csrf": csrf})
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/login")
    with httpx.Client(base_url=served, cookies={"langmem_session": session}) as copy:
        assert copy.get("/ui/").headers["location"] == "/ui/login"


def test_every_answer_under_ui_carries_the_security_headers(fast_memory, served):
    key = make_key(fast_memory, "dee-app", "read", user_id="dee")
    with inspector_session(served, key) as (client, _):
        answers = [
            client.get("/ui/login"),
            client.get("/ui/"),
            client.get("/ui/scope?user_id=someone-else"),  # an error page
            client.get("/ui/graph.json"),
            client.get("/ui/static/graph.js"),
            client.get("/ui/static/inspector.css"),
        ]
    for answer in answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value, (answer.url, name)
    policy = SECURITY_HEADERS["content-security-policy"]
    assert (
        "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy and "default-src 'none'" in policy
    )


def test_the_pages_need_nothing_from_another_site():
    """Every URL in the templates, stylesheet and script is the package's own (the page works offline);
    the only absolute URL is the SVG namespace, an identifier that is never fetched."""
    files = [*UI.glob("templates/*.html"), *UI.glob("static/*")]
    assert {path.suffix for path in files} == {".html", ".css", ".js"}
    for path in files:
        text = path.read_text()
        assert re.findall(r"https?://(?!www\.w3\.org/2000/svg\b)", text) == [], path
        assert re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?//""", text) == [], path  # protocol-relative
        if path.suffix == ".html":
            assert re.findall(r"<script(?![^>]*\bsrc=\"/ui/static/)", text) == [], path  # no inline script
            assert re.findall(r"\sstyle=|<style|\son[a-z]+=", text) == [], path  # nor inline style, handlers


def test_the_export_holds_the_scopes_memories_with_their_history(fast_memory, served):
    key = make_key(fast_memory, "eli-app", "read,write", user_id="eli")
    first = add(served, key, "Eli swims at dawn")
    second = add(served, key, "Eli reads Borges")
    httpx.put(f"{served}/v1/memories/{second}", json={"text": "Eli reads Cortázar"}, headers=bearer(key))
    with inspector_session(served, key) as (client, _):
        answer = client.get("/ui/export")
    assert answer.headers["content-disposition"] == 'attachment; filename="user_id-eli.json"'
    document = answer.json()
    assert document["scope"] == {"user_id": "eli"}
    items = {item["id"]: item for item in document["memories"]}
    assert set(items) == {first, second}
    assert items[second]["memory"] == "Eli reads Cortázar"
    assert [event["event"] for event in items[second]["history"]] == ["ADD", "UPDATE"]


@pytest.mark.slow
def test_a_session_opened_on_one_serve_process_works_on_another_until_the_key_is_revoked(tmp_path):
    """Sessions live in the store: every `langmem-plugin serve` on it knows them."""
    env = offline_env(tmp_path)
    created = cli(
        "keys", "create", "fay-app", "--user-id", "fay", "--rights", "read,write", "--json", env=env
    )
    key = re.search(r'"key": "([^"]+)"', created.stdout).group(1)
    with serve_process(env, tmp_path / "a.log") as first, serve_process(env, tmp_path / "b.log") as second:
        add(first, key, "Fay grows tomatoes")
        with (
            inspector_session(first, key) as (client, _),
            httpx.Client(base_url=second, cookies=client.cookies) as other,
        ):
            assert "Fay grows tomatoes" in other.get("/ui/scope").text
            assert cli("keys", "revoke", key.split("_")[1], env=env).returncode == 0
            for browser in (client, other):
                assert browser.get("/ui/scope").headers["location"] == "/ui/login"


def _record(day: int, category: str | None, speakers: list[tuple[str, str | None]]) -> MemoryRecord:
    at = datetime(2026, 1, 1, tzinfo=UTC).replace(day=day)
    return MemoryRecord(
        id=f"m{day}-{category}-{len(speakers)}",
        text="x",
        scope=Scope(user_id="u"),
        metadata={} if category is None else {"category": category},
        created_at=at,
        updated_at=at,
        valid_from=at,
        hash="h",
        sources=[SourceRef(message_id="m", turn_id="t", role=r, name=n, timestamp=at) for r, n in speakers],
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=8), st.integers(0, 10_000)),
        max_size=30,
        unique_by=lambda p: p[0],
    )
)
def test_bars_fit_their_chart_and_are_as_tall_as_their_counts(counts):
    chart = charts.bar_chart("t", counts, width=300, height=100)
    assert [(bar.label, bar.count) for bar in chart.bars] == counts
    tallest = max((count for _, count in counts), default=0)
    for left, right in zip(chart.bars, chart.bars[1:], strict=False):
        assert left.x + left.width <= right.x  # side by side, never overlapping
    for bar in chart.bars:
        assert bar.x >= 0 and bar.x + bar.width <= 300 + 1e-9
        assert bar.y + bar.height == pytest.approx(100)
        assert bar.height == pytest.approx(100 * bar.count / tallest if tallest else 0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 28),
            st.none() | st.sampled_from("abcdefghijklmnopq"),
            st.lists(
                st.tuples(st.sampled_from(["user", "assistant"]), st.none() | st.sampled_from("xyz")),
                max_size=3,
            ),
        ),
        max_size=40,
    )
)
def test_the_plots_count_every_memory_once_per_bar_kind(rows):
    records = [_record(day, category, speakers) for day, category, speakers in rows]
    assert sum(count for _, count in charts.over_time(records)) == len(records)
    categories = charts.by_category(records)
    assert sum(count for _, count in categories) == len(records)
    assert len(categories) <= charts.MAX_BARS
    # a memory said by two speakers counts once for each; one with no source once as NO_SOURCE
    speakers = sum(len({(r, n) for r, n in row[2]}) or 1 for row in rows)
    assert sum(count for _, count in charts.by_source(records)) == speakers


def test_attachments_are_served_to_their_memorys_readers_and_only_raster_images_inline(fast_memory, served):
    key = make_key(fast_memory, "gus-app", "read,write", user_id="gus")
    other = make_key(fast_memory, "hal-app", "read,write", user_id="hal")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    blocks = [
        {"type": "text", "text": "Gus drew a logo"},
        {
            "type": "image",
            "base64": base64.b64encode(svg).decode(),
            "mime_type": "image/svg+xml",
            "filename": "logo.svg",
        },
    ]
    answer = httpx.post(
        f"{served}/v1/memories",
        json={"messages": [{"role": "user", "content": blocks}], "infer": False},
        headers=bearer(key),
    )
    memory_id = answer.json()["results"][0]["id"]
    [attachment] = httpx.get(f"{served}/v1/memories/{memory_id}", headers=bearer(key)).json()["attachments"]
    path = f"/ui/memories/{memory_id}/attachments/{attachment['sha256']}"
    with inspector_session(served, key) as (client, csrf):
        page = client.get(f"/ui/memories/{memory_id}")
        assert "logo.svg" in page.text and "<img" not in page.text  # offered as a download, not shown
        download = client.get(path)
        assert download.content == svg
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.headers["content-disposition"] == 'attachment; filename="logo.svg"'
        assert client.get(f"/ui/memories/{memory_id}/attachments/{'0' * 64}").status_code == 404
        refused = client.post(
            f"/ui/memories/{memory_id}/expiry", data={"expires_at": "2001-01-01T00:00:00Z", "csrf": csrf}
        )
        assert refused.status_code == 400 and "InvalidExpiryError" in refused.text
    assert fast_memory.get(memory_id, user_id="gus").expires_at is None
    with inspector_session(served, other) as (client, _):
        assert client.get(path).status_code == 404  # another scope's memory, and so its files, are unknown


def pdf_saying(*pages: str) -> bytes:
    """A PDF whose pages each show one line of text (Helvetica), written by hand with its xref."""
    count = len(pages)
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(count))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for index, text in enumerate(pages):
        stream = f"BT /F1 18 Tf 40 700 Td ({text}) Tj ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * index} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_a_pdf_attachment_shows_its_first_pages_text_and_a_broken_one_says_so(fast_memory, served):
    """A PDF added in a message is read (its pages become memories carrying it); a corrupt one is
    refused at add, so the broken preview is reached through an import, which stores memories as
    exported, bytes included, without reading them."""
    key = make_key(fast_memory, "ida-app", "read,write", user_id="ida")

    def pdf_block(name: str, data: bytes) -> dict:
        encoded = base64.b64encode(data).decode()
        return {"type": "file", "base64": encoded, "mime_type": "application/pdf", "filename": name}

    def post(name: str, data: bytes) -> httpx.Response:
        blocks = [{"type": "text", "text": f"Ida shared {name}"}, pdf_block(name, data)]
        message = {"role": "user", "content": blocks}
        return httpx.post(
            f"{served}/v1/memories", json={"messages": [message], "infer": False}, headers=bearer(key)
        )

    menu = post("menu.pdf", pdf_saying("Soup of the day: lentils", "Page two: desserts"))
    shown = menu.json()["results"][0]["id"]
    broken_pdf = b"%PDF-1.4 this is not a PDF"
    refused = post("broken.pdf", broken_pdf)
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "UnreadableFileError"
    attachment = {"kind": "file", "name": "broken.pdf", "mime_type": "application/pdf"}
    exported = {
        "format": "langmem-plugin/export",
        "version": 1,
        "scope": {"user_id": "ida"},
        "memories": [
            {
                "memory": "Ida shared broken.pdf",
                "user_id": "ida",
                "attachments": [{**attachment, "base64": base64.b64encode(broken_pdf).decode()}],
            }
        ],
    }
    scope = Scope(user_id="ida")
    run_import(fast_memory, plan_import(exported, 100, scope=scope), scope, infer=False)
    [broken] = [r.id for r in fast_memory.get_all(user_id="ida") if r.text == "Ida shared broken.pdf"]
    with inspector_session(served, key) as (client, _):
        page = client.get(f"/ui/memories/{shown}").text
        assert "Soup of the day: lentils" in page and "desserts" not in page
        assert "this PDF could not be read" in client.get(f"/ui/memories/{broken}").text


def test_any_memory_text_renders_escaped_on_its_page_and_in_the_list(fast_memory, served):
    key = make_key(fast_memory, "jo-app", "read,write", user_id="jo")
    characters = st.characters(blacklist_categories=("Cs", "Cc"))
    markup = st.sampled_from(
        ["<script>", "</textarea>", "<img src=x onerror=alert(1)>", '"', "'", "&", "{{ 7*7 }}"]
    )
    texts = st.lists(st.text(characters, max_size=12) | markup, min_size=1, max_size=6).map("".join)

    with (
        inspector_session(served, key) as (client, _),
        httpx.Client(base_url=served, headers=bearer(key)) as api,
    ):

        @settings(max_examples=40, deadline=None)
        @given(texts.filter(str.strip))
        def renders_as_text(text):
            answer = api.post("/v1/memories", json={"messages": text, "infer": False})
            assert answer.status_code == 200, answer.text
            memory_id = answer.json()["results"][0]["id"]
            stored = api.get(f"/v1/memories/{memory_id}").json()["memory"]
            escaped = str(markupsafe.escape(stored))
            page = client.get(f"/ui/memories/{memory_id}").text
            assert f'<h1 id="memory-text">{escaped}</h1>' in page
            assert f">{escaped}</textarea>" in page
            assert f">{escaped}</a>" in client.get("/ui/scope").text
            api.delete(f"/v1/memories/{memory_id}").raise_for_status()

        renders_as_text()
