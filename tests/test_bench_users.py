"""Smoke test of benchmarks/users.py on a tiny shape, so the script cannot rot (no timing asserted)."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "users.py"


def test_users_script_reports_both_systems_as_json():
    argv = ["--users", "4", "--per-user", "30", "--queries", "12"]
    completed = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    ours, peer = report["results"]
    assert ours["system"] == "langmem-plugin"
    # data_version, for the common-word check and for the search: the hits come from the cached rows
    assert ours["sql_statements_per_repeat_search"] == 2
    assert 0 < ours["cached_scopes_mib"] <= report["shape"]["cache_mib"]
    assert ours["search_p95_ms"] >= ours["search_p50_ms"] > 0 and ours["disk_bytes"] > 0
    assert peer["system"].startswith("sqlite-vec")
    if "skipped" not in peer:  # sqlite-vec (and a SQLite that loads it) is optional
        assert peer["search_p50_ms"] > 0 and report["ratios"]["disk_ours_over_sqlite_vec"] > 0
