"""Smoke test of benchmarks/serve_load.py with one client of each kind for a few seconds, so the
script cannot rot (no timing asserted): the real `serve` process answers both kinds of client."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "serve_load.py"


def test_serve_load_script_reports_both_doors_as_json_without_errors(tmp_path):
    output = tmp_path / "serve_load.json"
    argv = ["--mcp-clients", "1", "--rest-clients", "1", "--seconds", "3", "--max-calls", "6"]
    argv += ["--seed-memories", "3", "--write-share", "0.5", "--output", str(output)]
    command = [sys.executable, str(SCRIPT), *argv]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=400)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(output.read_text())
    assert report == json.loads(completed.stdout)
    assert report["clients"] == {"mcp": 1, "rest": 1}
    for door in ("mcp", "rest"):
        assert report[door]["errors"] == 0, report[door]["error_kinds"]
        assert 0 < report[door]["ok"] <= 6
        assert report[door]["p99_ms"] >= report[door]["p95_ms"] >= report[door]["p50_ms"] > 0
    assert report["all"]["ok"] == report["mcp"]["ok"] + report["rest"]["ok"]
