"""Smoke test of benchmarks/embedding.py on a tiny LoCoMo-shaped file, so the script cannot rot
(no timing asserted)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "embedding.py"
IN_GIT_CHECKOUT = shutil.which("git") is not None and (
    subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode == 0
)


def tiny_locomo(path: Path) -> Path:
    path.write_text(
        json.dumps(
            [
                {
                    "qa": [{"question": f"What did Alice paint in week {i}?"} for i in range(4)],
                    "session_1": [{"speaker": "Alice", "text": f"I painted a sunrise over the lake, take {i}."} for i in range(6)],
                    "session_1_date_time": "1:56 pm on 8 May, 2023",
                }
            ]
        )
    )
    return path


@pytest.mark.parametrize(
    "baseline",
    ["", pytest.param("HEAD", marks=pytest.mark.skipif(not IN_GIT_CHECKOUT, reason="needs a git checkout"))],
    ids=["runtimes", "with-baseline"],
)
def test_embedding_script_reports_every_variant(tmp_path, baseline):
    argv = ["--locomo", str(tiny_locomo(tmp_path / "locomo.json")), "--queries", "3", "--batch-sizes", "1", "2",
            "--batch-texts", "4", "--memories", "30", "--search-queries", "2", "--baseline-ref", baseline]
    completed = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    variants = set(report["single_query_uncached"])
    assert "numpy" in variants and ("HEAD (before)" in variants) == bool(baseline)
    assert report["default_runtime"] in variants
    for label in variants:
        single = report["single_query_uncached"][label]
        assert single["calls"] == 3 and single["wall_p95_ms"] >= single["wall_p50_ms"] > 0
        assert set(report["batched"][label]) == {"1", "2"}
        assert report["batched"][label]["2"]["texts"] == 4
    assert report["single_query_cached_in_kv"]["calls"] == 3
    search = report["memory_search"]
    assert search["memories"] == 30 and set(search["first_asked"]) == set(search["asked_again"]) == variants
