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
