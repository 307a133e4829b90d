"""The CLI's commands for one memory (get / update / delete by id or by text), JSON everywhere
(`--json` before or after the command, errors as JSON), and hostile input (deep JSON, endless
files, a bad message in an import), each run as a user would, in a subprocess."""

import json
import os
import subprocess
import sys

from .test_cli_and_config import ROOT, cli


def json_error(result: subprocess.CompletedProcess) -> dict:
    """The one-line JSON error a --json command prints on stderr (progress lines come before it)."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    return json.loads(result.stderr.strip().splitlines()[-1])["error"]


def test_cli_get_update_delete_by_id_and_by_statement(tmp_path):
    store = tmp_path / "s"
    added = json.loads(cli("add", "I live in Porto.", "--user-id", "alice", "--json", store=store).stdout)
    porto = added[0]["memory"]["id"]
    seats = json.loads(
        cli("add", "I prefer window seats.", "--user-id", "alice", "--no-infer", "--json", store=store).stdout
    )
    seat = seats[0]["memory"]["id"]
    shown = json.loads(cli("get", seat, "--json", store=store).stdout)  # --json after the command
    assert shown["text"] == "I prefer window seats." and shown["scope"]["user_id"] == "alice"
    assert cli("get", seat, store=store).stdout.strip() == f"{seat}  I prefer window seats."

    assert cli("update", seat, "I prefer aisle seats.", store=store).stdout.split() == [
        "UPDATE",
        seat,
        "I",
        "prefer",
        "aisle",
        "seats.",
    ]
    corrected = cli("update", "I moved to Lisbon.", "--user-id", "alice", store=store).stdout.splitlines()
    assert (
        corrected[0].split()[:2] == ["INVALIDATE", porto]
        and corrected[1].startswith("ADD")
        and "Lisbon" in corrected[1]
    )

    deleted = json.loads(
        cli("--json", "delete", "the seat preference", "--user-id", "alice", store=store).stdout
    )
    assert [(d["id"], d["text"]) for d in deleted] == [(seat, "I prefer aisle seats.")]
    refused = cli("delete", "something about cooking", "--user-id", "alice", store=store, check=False)
    assert (
        refused.returncode == 2
        and refused.stderr.count("\n") == 1
        and "nothing was deleted" in refused.stderr
    )
    lisbon = corrected[1].split()[1]
    assert cli("delete", lisbon, store=store).stdout.split()[:2] == ["DELETE", lisbon]
    assert json_error(cli("get", lisbon, "--json", store=store, check=False)) == {
        "type": "MemoryNotFoundError",
        "message": f"no memory with id '{lisbon}'",
    }
    assert (
        json_error(cli("update", "I moved to Faro.", "--json", store=store, check=False))["type"]
        == "MissingScopeError"
    )


def test_cli_usage_and_input_errors_are_one_line_or_json(tmp_path):
    usage = cli("lsit", store=tmp_path / "s", check=False)
    assert (
        usage.returncode == 2
        and usage.stderr.startswith("usage: ")
        and "invalid choice: 'lsit'" in usage.stderr
    )
    assert json_error(cli("lsit", "--json", store=tmp_path / "s", check=False))["type"] == "UsageError"
    assert (
        json_error(
            cli("search", "q", "--user-id", "u", "--limit", "x", "--json", store=tmp_path / "s", check=False)
        )["type"]
        == "UsageError"
    )
    error = json_error(
        cli(
            "search", "q", "--user-id", "u", "--filters", "{oops", "--json", store=tmp_path / "s", check=False
        )
    )
    assert error["type"] == "InvalidFilterError" and error["message"].startswith("--filters is not JSON")
    assert not (tmp_path / "s").exists()  # refused before the store was opened


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_cli_hostile_json_is_refused_in_one_line_before_anything_is_written(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text(_nested(10_000))
    store = tmp_path / "s"
    for args in (
        ("import", str(deep), "--user-id", "u"),
        ("add", "a fine fact here", "--user-id", "u", "--metadata", _nested(10_000)),
        ("search", "fine", "--user-id", "u", "--filters", "[" * 10_000 + "]" * 10_000),
    ):
        result = cli(*args, store=store, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert (
            result.stderr.splitlines() == [result.stderr.strip()]
            and "more than 64 levels deep" in result.stderr
        )
    assert not store.exists()


def _peak_rss_mib(*args: str, stdin=None) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI under a parent whose only child it is, so that RUSAGE_CHILDREN is the CLI's peak."""
    measure = (
        "import resource, subprocess, sys; "
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "sys.stderr.write(r.stderr)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGMEM_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", measure, sys.executable, "-m", "langmem_plugin.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=stdin,
        timeout=120,
    )
    code, peak_kib = done.stdout.split()
    return subprocess.CompletedProcess(args, int(code), "", done.stderr), int(peak_kib) / 1024


def test_cli_import_reads_within_bounds(tmp_path):
    store = str(tmp_path / "s")
    zeros, peak = _peak_rss_mib("--path", store, "import", "/dev/zero", "--user-id", "u")
    assert (
        zeros.returncode == 2
        and zeros.stderr.strip() == "error: /dev/zero is not JSON text: a NUL byte at offset 0"
    )
    assert peak < 400
    endless = subprocess.Popen(
        ["yes", "["], stdout=subprocess.PIPE
    )  # an endless stream that is all JSON text
    try:
        brackets, peak = _peak_rss_mib(
            "--path", store, "import", "-", "--user-id", "u", "--max-mib", "8", stdin=endless.stdout
        )
    finally:
        endless.kill()
        endless.wait()
    assert (
        brackets.returncode == 2
        and brackets.stderr.strip()
        == "error: stdin is larger than 8 MiB; raise the bound (import --max-mib) to read it"
    )
    assert peak < 400
    assert not (tmp_path / "s").exists()


def test_cli_import_is_all_or_nothing_and_names_the_place_of_a_bad_message(tmp_path):
    messages = [{"role": "user", "content": f"I collect stamp number {i}."} for i in range(30)]
    messages[24] = {"role": "user", "content": {"nested": "not text"}}
    jsonl, plain = tmp_path / "chat.jsonl", tmp_path / "chat.json"
    jsonl.write_text(
        "\n" + "".join(json.dumps(m) + "\n" for m in messages)
    )  # a blank first line: line numbers count it
    plain.write_text(json.dumps(messages))
    store = tmp_path / "s"
    first = cli("import", str(jsonl), "--user-id", "u", store=store, check=False)
    assert first.returncode == 2 and first.stderr.strip() == "error: line 26: content must be text or a list of content blocks, got dict"
    second = json_error(cli("import", str(plain), "--user-id", "u", "--json", store=store, check=False))
    assert second == {"type": "InvalidInputError", "message": "message 25: content must be text or a list of content blocks, got dict"}
    messages[24]["timestamp"] = "yesterday-ish"
    messages[24]["content"] = "I collect stamp number 24."
    plain.write_text(json.dumps(messages))
    third = cli("import", str(plain), "--user-id", "u", store=store, check=False)
    assert third.returncode == 2 and "message 25" in third.stderr and "not an ISO-8601" in third.stderr
    assert not store.exists()  # nothing was stored, not even an empty memory


def test_cli_import_reads_mem0_get_all_dumps_in_both_shapes(tmp_path):
    items = [
        {
            "id": "892db2ae-06d9-49e5-8b3e-585ef9b85b8e",
            "memory": "Likes to play cricket on weekends",
            "hash": "x",
            "metadata": {"category": "hobbies"},
            "created_at": "2024-07-26T10:29:36.630547-07:00",
            "updated_at": None,
            "user_id": "alex",
            "categories": ["sports"],
        },
        {
            "id": "6a0a3b4a-1b1f-4b38-9f2b-8b5d2b1a8f10",
            "memory": "Is a vegetarian",
            "hash": "y",
            "metadata": None,
            "created_at": "2024-07-27T09:00:00-07:00",
            "updated_at": None,
            "user_id": "alex",
        },
    ]
    wrapped, bare = tmp_path / "results.json", tmp_path / "items.json"
    wrapped.write_text(
        json.dumps(
            {
                "results": items,
                "relations": [{"source": "alex", "relationship": "likes", "destination": "cricket"}],
            }
        )
    )
    bare.write_text(json.dumps(items))
    imported = cli("import", str(wrapped), "--user-id", "alex", store=tmp_path / "a").stdout.splitlines()
    assert imported == [
        "imported 2 messages (Mem0 memories) in 2 batches: 2 ADD",
        "fields with no equivalent were not carried: categories (1), relations (1)",
    ]
    summary = json.loads(cli("import", str(bare), "--user-id", "alex", "--json", store=tmp_path / "b").stdout)
    assert (summary["format"], summary["events"], summary["fields_not_carried"]) == (
        "Mem0 memories",
        {"ADD": 2},
        {"categories": 1},
    )
    listed = json.loads(cli("list", "--user-id", "alex", "--json", store=tmp_path / "b").stdout)
    by_text = {m["text"]: m for m in listed}
    cricket = by_text["Likes to play cricket on weekends"]
    assert (
        cricket["metadata"] == {"category": "hobbies"}
        and cricket["valid_from"] == "2024-07-26T17:29:36.630547Z"
    )
    assert cricket["sources"][0]["message_id"] == "892db2ae-06d9-49e5-8b3e-585ef9b85b8e"  # the Mem0 id, kept
    other = cli("import", str(bare), "--user-id", "sam", store=tmp_path / "c", check=False)
    assert (
        other.returncode == 2
        and "memory 1 belongs to {'user_id': 'alex'}" in other.stderr
        and not (tmp_path / "c").exists()
    )


def test_cli_list_says_when_it_stops_at_its_limit(tmp_path):
    store = tmp_path / "s"
    cli("add", "first fact about stamps", "--user-id", "u", "--no-infer", store=store)
    cli("add", "second fact about coins", "--user-id", "u", "--no-infer", store=store)
    cut = cli("list", "--user-id", "u", "--limit", "1", "--json", store=store)
    assert [m["text"] for m in json.loads(cut.stdout)] == ["second fact about coins"]
    assert cut.stderr.strip() == "listed the newest 1 memories; there are more: raise --limit (at most 1000)"
    whole = cli("list", "--user-id", "u", "--limit", "2", store=store)
    assert len(whole.stdout.splitlines()) == 2 and whole.stderr == ""


def test_cli_forget_erases_a_store_namespace_which_no_user_id_can_name(tmp_path):
    from langmem_plugin import Memory
    from langmem_plugin.integrations.store import MemoryStore

    from .helpers import HashingEmbeddings

    store = tmp_path / "s"
    with Memory({"path": str(store)}, embeddings=HashingEmbeddings()) as memory:
        MemoryStore(memory).put(("memories", "bob"), "k", {"content": "bob vault 4417"})
        MemoryStore(memory).put(("memories", "ann"), "k", {"content": "ann vault 1234"})
    named = cli("forget", "--user-id", 'ns:["memories", "bob"]', "--yes", store=store, check=False)
    assert named.returncode == 2 and "reserved" in named.stderr
    both = cli("forget", "--namespace", "memories", "bob", "--user-id", "bob", "--yes", store=store, check=False)
    assert both.returncode == 2 and "not both" in both.stderr
    assert "forgot 1 memories" in cli("forget", "--namespace", "memories", "bob", "--yes", store=store).stdout
    with Memory({"path": str(store)}, embeddings=HashingEmbeddings()) as memory:
        assert MemoryStore(memory).list_namespaces() == [("memories", "ann")]
