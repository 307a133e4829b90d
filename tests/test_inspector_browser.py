"""The memory inspector in a real browser: Debian's headless Chromium driven by Selenium through
chromium-driver, against the app served on 127.0.0.1. Each test logs in with an API key, works
through the pages as a person would, and checks every effect through the REST API with a key.
The run saves screenshots of the main views into docs/img (docs/inspector.md shows them).

One browser serves the module; each test works in its own user's scope."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from langmem_plugin import Memory, Scope
from langmem_plugin.server.grants import Right
from langmem_plugin.server.keys import Keyring
from langmem_plugin.testing.inspect import stored_bytes

from .helpers import HashingEmbeddings
from .servers import ROOT, skip_unless_ci
from .serving import bearer, inspector_session, make_key, serving

SCREENSHOTS = ROOT / "docs" / "img"
# the flags the closed network of CI needs (no request leaves the machine), and a fresh profile
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,760",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Iterator[Memory]:
    path = tmp_path_factory.mktemp("inspector") / "store"
    with Memory({"path": str(path)}, embeddings=HashingEmbeddings()) as memory:
        yield memory


@pytest.fixture(scope="module")
def site(store) -> Iterator[str]:
    with serving(store) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        skip_unless_ci("chromium and chromium-driver are not installed (make install-browser)")
    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium Manager stays quiet: the paths are given
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    with tempfile.TemporaryDirectory() as profile:
        for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        session = webdriver.Chrome(service=Service(driver), options=options)
        try:
            yield session
        finally:
            session.quit()


def api(site: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=site, headers=bearer(key), timeout=60)


def log_in(browser: WebDriver, site: str, key: str) -> None:
    """Log in through the login form, as a person pasting a key would (any earlier session ends)."""
    browser.get(f"{site}/ui/login")
    browser.delete_all_cookies()
    browser.get(f"{site}/ui/")
    assert browser.current_url == f"{site}/ui/login"  # no session: the login page
    browser.find_element(By.ID, "key").send_keys(key)
    follow(browser, "#login button")
    assert browser.current_url == f"{site}/ui/"


def screenshot(browser: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"inspector-{name}.png"))


def follow(browser: WebDriver, selector: str) -> None:
    """Click a link or a form's button and wait until the next page has loaded: a new document has another
    `performance.timeOrigin` (the driver may fail to answer while the documents change)."""
    loaded = "return document.readyState === 'complete' && performance.timeOrigin"
    before = browser.execute_script(loaded)
    browser.find_element(By.CSS_SELECTOR, selector).click()
    WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
        lambda _: browser.execute_script(loaded) not in (before, False)
    )


def texts(browser: WebDriver, selector: str) -> list[str]:
    return [element.text for element in browser.find_elements(By.CSS_SELECTOR, selector)]


def add(client: httpx.Client, text: str, **fields) -> str:
    answer = client.post("/v1/memories", json={"messages": text, "infer": False, **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]["id"]


def test_a_key_logs_in_sees_its_scopes_and_searches_with_scores_and_evidence(browser, site, store):
    key = make_key(store, "alice-app", "read,write,forget", user_id="alice")
    with api(site, key) as alice:
        bike = add(alice, "I ride a blue Brompton to work", metadata={"category": "travel"})
        add(alice, "My sister Maria lives in Lisbon", metadata={"category": "family"})
        peanuts = add(alice, "I am allergic to peanuts", metadata={"category": "health"})
        add(alice, "I work in Lisbon", agent_id="planner", metadata={"category": "work"})

        log_in(browser, site, key)
        rows = {
            tuple(row.text.split()[:3]): row
            for row in browser.find_elements(By.CSS_SELECTOR, "#scopes tbody tr")
        }
        assert [cell.text for cell in rows[("alice", "·", "·")].find_elements(By.CSS_SELECTOR, "td.num")] == [
            "4",
            "0",
        ]
        assert ("alice", "planner", "·") in rows  # a scope within the grant, with its own row
        screenshot(browser, "scopes")

        follow(browser, "#scopes tr.granted a.open-scope")
        browser.find_element(By.ID, "q").send_keys("Brompton bike")
        follow(browser, "#search button")
        first = browser.find_element(By.CSS_SELECTOR, "#hits tbody tr")
        expected = alice.post("/v1/memories/search", json={"query": "Brompton bike", "limit": 20}).json()
        assert first.find_element(By.CSS_SELECTOR, "a").get_attribute("href").endswith(bike)
        assert first.find_element(By.CSS_SELECTOR, ".score").text == f"{expected['results'][0]['score']:.3f}"
        assert "similarity" in first.find_element(By.CSS_SELECTOR, ".evidence").text
        assert len(texts(browser, "#memories tbody tr")) == 4
        assert [chart.text for chart in browser.find_elements(By.CSS_SELECTOR, "figcaption")] == [
            "Memories over time (learned)",
            "By category",
            "By source",
        ]
        assert sorted(texts(browser, "figure:nth-of-type(2) text.label")) == [
            "family",
            "health",
            "travel",
            "work",
        ]
        screenshot(browser, "scope")

        browser.find_element(By.ID, "q").clear()
        browser.find_element(By.ID, "filters").send_keys('{"category": "health"}')
        follow(browser, "#search button")
        assert [
            link.get_attribute("href").rsplit("/", 1)[1]
            for link in browser.find_elements(By.CSS_SELECTOR, "#memories a.memory-link")
        ] == [peanuts]

    # every page read went through the grants and into the access log, door `ui`
    admin = make_key(store, "alice-admin", "admin", user_id="alice")
    with api(site, admin) as audit:
        entries = audit.get("/v1/access-log", params={"user_id": "alice"}).json()["results"]
    done = {(entry["principal"], entry["via"], entry["action"]) for entry in entries}
    assert {("alice-app", "ui", "list"), ("alice-app", "ui", "search")} <= done


def test_a_memorys_history_shows_both_clocks_and_its_edit_and_delete_reach_the_api(browser, site, store):
    key = make_key(store, "bruno-app", "read,write", user_id="bruno")
    with api(site, key) as bruno:
        said = {
            "role": "user",
            "name": "Bruno",
            "content": "I live in Porto",
            "timestamp": "2025-03-01T09:00:00Z",
        }
        answer = bruno.post("/v1/memories", json={"messages": [said], "infer": False})
        memory_id = answer.json()["results"][0]["id"]
        bruno.put(f"/v1/memories/{memory_id}", json={"text": "I live in Braga"}).raise_for_status()

        log_in(browser, site, key)
        browser.get(f"{site}/ui/scope?user_id=bruno")
        follow(browser, "#memories a.memory-link")
        assert browser.find_element(By.ID, "memory-text").text == "I live in Braga"
        assert (
            browser.find_element(By.ID, "valid-from").text == "2025-03-01T09:00:00+00:00"
        )  # when it was true
        assert "user (Bruno)" in browser.find_element(By.ID, "sources").text  # the message it came from
        assert texts(browser, "#history .event-type") == ["ADD", "UPDATE"]
        assert "I live in Porto → I live in Braga" in browser.find_element(By.ID, "history").text
        screenshot(browser, "memory")

        area = browser.find_element(By.ID, "edit-text")
        area.clear()
        area.send_keys("I live in Coimbra")
        follow(browser, "#edit button")
        assert browser.find_element(By.ID, "memory-text").text == "I live in Coimbra"
        assert bruno.get(f"/v1/memories/{memory_id}").json()["memory"] == "I live in Coimbra"
        events = bruno.get(f"/v1/memories/{memory_id}/history").json()["results"]
        assert [e["event"] for e in events] == ["ADD", "UPDATE", "UPDATE"]
        assert events[-1]["new_memory"] == "I live in Coimbra"

        follow(browser, "#delete button")
        assert browser.find_element(By.ID, "memory-deleted").is_displayed()
        assert texts(browser, "#history .event-type") == ["ADD", "UPDATE", "UPDATE", "DELETE"]
        assert bruno.get(f"/v1/memories/{memory_id}").status_code == 404
        events = bruno.get(f"/v1/memories/{memory_id}/history").json()["results"]
        assert events[-1]["event"] == "DELETE"


def test_the_entity_graph_draws_the_users_entities_and_a_node_can_be_dragged(browser, site, store):
    key = make_key(store, "carla-app", "read,write", user_id="carla")
    with api(site, key) as carla:
        carla.post(
            "/v1/memories", json={"messages": "My sister Maria lives in Lisbon and works at Google."}
        ).raise_for_status()
    entities = store.services.graph.entities(Scope(user_id="carla"))
    assert {"Maria", "Lisbon"} <= {entity.name for entity in entities}

    log_in(browser, site, key)
    browser.get(f"{site}/ui/scope?user_id=carla")
    follow(browser, "#open-graph")
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "graph").get_attribute("data-drawn"))
    circles = browser.find_elements(By.CSS_SELECTOR, "#graph circle")
    assert len(circles) == len(entities)
    names = set(texts(browser, "#graph text:not(.relation)"))
    assert {entity.name for entity in entities} == names
    assert texts(browser, "#graph text.relation")  # relations carry their labels

    before = float(circles[0].get_attribute("cx"))
    ActionChains(browser).drag_and_drop_by_offset(circles[0], 60, 40).perform()
    assert float(circles[0].get_attribute("cx")) != before
    assert "lit" in circles[0].get_attribute("class")  # the dragged node and its relations are highlighted
    browser.execute_script("document.getElementById('graph-status').scrollIntoView()")
    screenshot(browser, "graph")


def test_erasing_a_user_names_what_goes_and_leaves_nothing(browser, site, store):
    key = make_key(store, "dora-app", "read,write,forget", user_id="dora")
    with api(site, key) as dora:
        kept = add(dora, "Dora keeps bees in Faro")
        gone = add(dora, "Dora sails a dinghy")
        dora.delete(f"/v1/memories/{gone}").raise_for_status()
        dora.patch("/v1/profile", json={"values": {"city": "Faro"}}).raise_for_status()

        log_in(browser, site, key)
        browser.get(f"{site}/ui/scope?user_id=dora")
        follow(browser, "#erase")
        what = browser.find_element(By.ID, "what-goes").text
        assert "1 memories (1 current, 0 invalidated)" in what
        assert "the history of 2 memories" in what  # the deleted one's included
        assert "the profile (city)" in what
        screenshot(browser, "erase")
        follow(browser, "#confirm-erase button")
        assert browser.find_element(By.ID, "erased").is_displayed()

        assert dora.get("/v1/memories").json()["results"] == []
        assert dora.get("/v1/profile").json()["profile"] == {}
        for memory_id in (kept, gone):
            assert dora.get(f"/v1/memories/{memory_id}/history").status_code == 404
    stored = stored_bytes(store.config)
    assert [name for name, data in stored.items() if b"Faro" in data or kept.encode() in data] == []


def test_memory_text_with_script_or_onerror_markup_renders_as_text(browser, site, store):
    hostile_user = 'eve"><img src=x onerror="window.pwned=\'user id\'">'
    script = "<script>window.pwned = 'script'</script>Eve likes tea"
    image = "<img src=x onerror=\"window.pwned = 'img'\">Eve likes coffee"
    key = make_key(store, "eve-app", "read,write", user_id=hostile_user)
    with api(site, key) as eve:
        add(eve, script)
        image_id = add(eve, image, metadata={"category": "<b onmouseover=alert(1)>x</b>"})

    log_in(browser, site, key)
    browser.get(f"{site}/ui/")
    follow(browser, "a.open-scope")
    browser.find_element(By.ID, "q").send_keys("<script>window.pwned='query'</script> Eve")
    follow(browser, "#search button")
    assert sorted(texts(browser, "#memories a.memory-link")) == sorted([script, image])
    assert browser.find_element(By.CSS_SELECTOR, "h1 .scope-id").text == f"user_id={hostile_user}"
    browser.get(f"{site}/ui/memories/{image_id}")
    assert browser.find_element(By.ID, "memory-text").text == image
    assert browser.find_element(By.ID, "edit-text").get_attribute("value") == image

    assert browser.execute_script("return window.pwned === undefined")
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script, main b") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 (reading it is what raises)
    policy = httpx.get(f"{site}/ui/login").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


class _AttackerPage(BaseHTTPRequestHandler):
    """Another origin's page that posts a form at the inspector as soon as it loads."""

    page = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args):
        pass


def test_a_form_posted_from_another_origin_or_without_the_token_changes_nothing(browser, site, store):
    key = make_key(store, "finn-app", "read,write,forget", user_id="finn")
    with api(site, key) as finn:
        memory_id = add(finn, "Finn drinks oat milk")
        log_in(browser, site, key)

        _AttackerPage.page = (
            f'<form id="f" method="post" action="{site}/ui/memories/{memory_id}/edit">'
            '<input name="text" value="Finn was hacked"><input name="csrf" value="guessed"></form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        attacker = ThreadingHTTPServer(("127.0.0.1", 0), _AttackerPage)
        threading.Thread(target=attacker.serve_forever, daemon=True).start()
        try:
            browser.get(f"http://127.0.0.1:{attacker.server_address[1]}/")
            kind = WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
                ec.presence_of_element_located((By.ID, "error-kind"))
            )
            assert browser.current_url.startswith(f"{site}/ui/") and kind.text == "ForgedRequestError"
        finally:
            attacker.shutdown()
            attacker.server_close()
        assert finn.get(f"/v1/memories/{memory_id}").json()["memory"] == "Finn drinks oat milk"

        # the browser's own session cookie, without the form's token: refused, nothing changes
        cookie = browser.get_cookie("langmem_session")
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        with httpx.Client(base_url=site, cookies={"langmem_session": cookie["value"]}) as stolen:
            for path, form in [
                (f"/ui/memories/{memory_id}/edit", {"text": "Finn was hacked"}),
                (f"/ui/memories/{memory_id}/delete", {"csrf": "x" * 43}),
                ("/ui/erase", {"user_id": "finn"}),
                ("/ui/logout", {}),
            ]:
                answer = stolen.post(path, data=form)
                assert answer.status_code == 403 and "ForgedRequestError" in answer.text, path
        assert [m["memory"] for m in finn.get("/v1/memories").json()["results"]] == ["Finn drinks oat milk"]


def test_a_user_key_gets_403_on_another_users_pages_and_an_admin_sees_both(browser, site, store):
    gina = make_key(store, "gina-app", "read,write,forget", user_id="gina")
    hugo = make_key(store, "hugo-app", "read,write,forget", user_id="hugo")
    with api(site, hugo) as hugo_api:
        hugos = add(hugo_api, "Hugo collects stamps")
    with api(site, gina) as gina_api:
        add(gina_api, "Gina paints murals")

    log_in(browser, site, gina)
    for page in ["/ui/scope?user_id=hugo", "/ui/graph?user_id=hugo", "/ui/erase?user_id=hugo"]:
        browser.get(site + page)
        assert browser.find_element(By.ID, "error-kind").text == "NotGrantedError", page
    browser.get(f"{site}/ui/memories/{hugos}")  # another scope's memory is unknown, as over REST
    assert browser.find_element(By.ID, "error-kind").text == "MemoryNotFoundError"

    with inspector_session(site, gina) as (client, csrf):
        for path in [
            "/ui/scope?user_id=hugo",
            "/ui/graph?user_id=hugo",
            "/ui/graph.json?user_id=hugo",
            "/ui/export?user_id=hugo",
            "/ui/erase?user_id=hugo",
        ]:
            assert client.get(path).status_code == 403, path
        assert client.post("/ui/erase", data={"user_id": "hugo", "csrf": csrf}).status_code == 403
        assert client.get(f"/ui/memories/{hugos}").status_code == 404
        for action in ("edit", "delete"):
            answer = client.post(
                f"/ui/memories/{hugos}/{action}", data={"text": "Gina was here", "csrf": csrf}
            )
            assert answer.status_code == 404, action
    with api(site, hugo) as hugo_api:
        assert [m["memory"] for m in hugo_api.get("/v1/memories").json()["results"]] == [
            "Hugo collects stamps"
        ]

    ops = make_key(store, "ops", "admin", user_id="gina")
    Keyring(store.services.kv).grant("ops", [Scope(user_id="hugo")], [Right.ADMIN], "test")
    log_in(browser, site, ops)
    users = [re.split(r"\s+", row)[0] for row in texts(browser, "#scopes tbody tr")]
    assert users == ["gina", "hugo"]


def png(width: int, height: int) -> bytes:
    image = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(image, "PNG")
    return image.getvalue()


def test_an_image_attachment_shows_inline_and_an_expiry_set_in_the_page_reaches_the_api(browser, site, store):
    key = make_key(store, "ivan-app", "read,write", user_id="ivan")
    photo = {"type": "image", "base64": base64.b64encode(png(40, 30)).decode(), "mime_type": "image/png"}
    turn = {
        "role": "user",
        "content": [{"type": "text", "text": "This is my dog Biscuit"}, {**photo, "filename": "dog.png"}],
    }
    with api(site, key) as ivan:
        answer = ivan.post("/v1/memories", json={"messages": [turn], "infer": False})
        item = answer.json()["results"][0]
        [attachment] = ivan.get(f"/v1/memories/{item['id']}").json()["attachments"]
        assert attachment["name"] == "dog.png" and attachment["sha256"]

        log_in(browser, site, key)
        browser.get(f"{site}/ui/scope?user_id=ivan")
        follow(browser, "#memories a.memory-link")
        image = browser.find_element(By.CSS_SELECTOR, "#attachments img.preview")
        WebDriverWait(browser, 10).until(
            lambda _: browser.execute_script("return arguments[0].complete", image)
        )
        assert browser.execute_script(
            "return [arguments[0].naturalWidth, arguments[0].naturalHeight]", image
        ) == [40, 30]
        assert "dog.png" in browser.find_element(By.ID, "attachments").text
        screenshot(browser, "attachment")

        moment = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
        browser.find_element(By.ID, "expires-at").send_keys(moment.isoformat())
        follow(browser, "#expiry button")
        assert moment.isoformat() in browser.find_element(By.ID, "expires").text
        assert datetime.fromisoformat(ivan.get(f"/v1/memories/{item['id']}").json()["expires_at"]) == moment

        time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.5)
        assert ivan.get(f"/v1/memories/{item['id']}").status_code == 404  # expired: gone from the API
        assert ivan.get("/v1/memories").json()["results"] == []
        browser.get(f"{site}/ui/scope?user_id=ivan")
        assert texts(browser, "#memories a.memory-link") == []
        browser.find_element(By.ID, "expired").click()
        follow(browser, "#search button")
        [row] = browser.find_elements(By.CSS_SELECTOR, "#memories tr.expired")
        assert "Biscuit" in row.text and "expired" in row.find_element(By.CSS_SELECTOR, ".expiry").text
