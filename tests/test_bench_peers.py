"""Smoke tests of benchmarks/peers.py on a few hundred vectors, so the script cannot rot (no timing asserted)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"


def load_peers():
    """benchmarks/peers.py as a module (benchmarks/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("peers_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_peers_script_reports_every_system_and_shape(tmp_path):
    argv = ["--size", "300", "--users", "4", "--per-user", "50", "--queries", "20", "--batch", "120", "--out", str(tmp_path)]
    completed = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    results = {(r["system"], r["shape"]): r for r in report["results"]}
    systems = list(load_peers().SYSTEMS)
    assert list(results) == [(name, shape) for shape in ("single", "users") for name in systems]
    for (name, shape), result in results.items():
        assert "error" not in result, result
        if "skipped" in result:  # a peer whose package is missing says so and carries no numbers
            assert result["skipped"].startswith("not installed: ") and "search_p50_ms" not in result
            continue
        assert result["memories"] == (300 if shape == "single" else 200)
        assert result["users"] == (1 if shape == "single" else 4)
        assert 0.0 <= result["recall_at_10"] <= 1.0
        assert result["inserts_per_second"] > 0 and result["search_p95_ms"] >= result["search_p50_ms"] > 0
        assert result["peak_rss_mb"] >= result["rss_after_workload_and_imports_mb"] > 0
        assert result["disk_bytes"] is None if name == "langgraph-inmemorystore" else result["disk_bytes"] > 0
    for shape in ("single", "users"):
        ours = results[("langmem", shape)]
        assert ours["recall_at_10"] == 1.0  # exact dense search on tiny data
        assert 0.0 <= ours["hybrid_overlap_with_exact_top10"] <= 1.0
        assert ours["recall_kind"].startswith("dense-only")
    assert json.loads((tmp_path / "peers.json").read_text())["results"] == report["results"]
    assert (tmp_path / "peers.png").stat().st_size > 0


def test_missing_peer_is_skipped_with_its_reason():
    peers = load_peers()
    absent = peers.System(peers.SqliteVecStore, "sqlite-vec", ("sqlite_vec", "no_such_module_for_peers_test"))
    peers.SYSTEMS["absent-peer"] = absent
    result = peers.bench_isolated("absent-peer", "single", Path("never-read"), 50)
    assert result == {
        "system": "absent-peer",
        "shape": "single",
        "skipped": "not installed: no_such_module_for_peers_test (pip install -e '.[peers]')",
    }


def test_run_past_its_time_limit_is_stopped_and_reported(tmp_path):
    # 20,000 memories take seconds to insert; the limit is checked every second
    argv = ["--size", "20000", "--shapes", "single", "--systems", "langmem", "--time-limit", "0.5", "--out", str(tmp_path)]
    completed = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    results = json.loads(completed.stdout)["results"]
    assert results == [{"system": "langmem", "shape": "single", "error": "stopped after 0.5 s (--time-limit)"}]
