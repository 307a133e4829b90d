"""Smoke test of benchmarks/inserts.py on tiny sizes, so the script cannot rot (no timing asserted)."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "inserts.py"


def _run(*argv: str) -> dict:
    completed = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_floor_reports_our_batch_beside_sqlites_own_inserts_of_our_rows():
    (result,) = _run("--floor", "--batches", "100", "--memories", "400")["results"]
    assert result["batch"] == 100 and result["memories"] == 300 and result["inserts_per_second"] > 0
    floor = result["sqlite_floor"]
    assert floor["memories"] == 400 and floor["batch"] == 100
    assert set(floor["cpu_us_per_memory"]) == {"with_fts5", "without_fts5", "without_fts5_and_secondary_indexes"}
    assert all(cpu > 0 for cpu in floor["cpu_us_per_memory"].values())


def test_breakdown_times_each_stage_of_the_write_path():
    report = _run("--breakdown", "--batches", "100", "--memories", "400")
    stages = report["stages_cpu_us_per_memory"]
    for stage in ("vector tier insert (rows + FTS5), all of it", "history append, all of it", "MemoryRecord objects and content hashes", "history event objects"):
        assert stages[stage] > 0
