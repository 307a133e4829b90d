"""Smoke test of benchmarks/scale.py on tiny sizes, so the script cannot rot (no timing asserted)."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "scale.py"


def test_scale_script_reports_json_and_plot(tmp_path):
    argv = ["--sizes", "400", "--queries", "20", "--batch", "100", "--ann-min-rows", "300",
            "--minilm-sentences", "4", "--out", str(tmp_path)]
    completed = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    modes = [(r["memories"], r["dense_search"]) for r in report["results"]]
    assert modes == [(400, "exact"), (400, "hnsw")]
    exact = report["results"][0]
    assert exact["dense_recall_at_10"] == 1.0
    assert exact["adds_per_second"] > 0 and exact["search_p95_ms"] >= exact["search_p50_ms"] > 0
    assert exact["peak_rss_mb"] > 0
    assert (tmp_path / "scale_latency.png").exists() and (tmp_path / "scale.json").exists()


def test_scale_script_reports_the_ann_index_reopened_without_rebuild(tmp_path):
    argv = ["--sizes", "400", "--queries", "20", "--batch", "100", "--ann-min-rows", "300", "--ann-only",
            "--ann-ef", "16", "64", "--minilm-sentences", "0", "--out", str(tmp_path)]
    completed = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    (hnsw,) = json.loads(completed.stdout)["results"]
    assert hnsw["dense_search"] == "hnsw" and hnsw["ann_rebuilt_on_reopen"] is False
    assert [row["ef_search"] for row in hnsw["ann_ef_sweep"]] == [16, 64]
    assert hnsw["ann_disk_mb"] > 0 and hnsw["reopen_seconds"] > 0


def test_ann_script_reloads_the_saved_graph(tmp_path):
    script = SCRIPT.with_name("ann.py")
    completed = subprocess.run([sys.executable, str(script), "--size", "2000", "--queries", "10", "--ef", "32"],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["builds"] == 1 and report["reopen"]["rebuilt"] is False and report["reopen"]["unindexed_rows"] == 0
    assert report["files_mb"] > 0 and [row["ef_search"] for row in report["ef_sweep"]] == [32]
