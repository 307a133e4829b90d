"""The offline manager on everyday speech: cases of tests/data/offline_speech.json, scored per category.

Each case gives the memories a user already has (stored verbatim), one thing the user says, and the
memories that must be current afterwards, no more and no fewer. Cases run through the real `Memory`
(`memory.add(..., user_id=...)`), each in its own run scope so they never see one another. A split
of about 30% ("holdout") was set aside when the cases were written and is only scored at the end.

    .venv/bin/python -m tests.offline_speech [--split dev|holdout|all] [--failures]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

from langmem_plugin import Memory

CASES = Path(__file__).parent / "data" / "offline_speech.json"


def load_cases(split: str = "all") -> tuple[dict, list[dict]]:
    data = json.loads(CASES.read_text(encoding="utf-8"))
    return data, [case for case in data["cases"] if split in ("all", case["split"])]


def run_case(memory: Memory, data: dict, case: dict) -> list[str]:
    """The texts current in the case's scope after the user said its sentence."""
    scope = {"user_id": case["user_id"], "run_id": case["id"]}
    for text in case["prior"]:
        memory.add(text, infer=False, timestamp=data["prior_at"], **scope)
    message = {"role": "user", "content": case["say"], "timestamp": data["said_at"]}
    if case["name"]:
        message["name"] = case["name"]
    memory.add(message, **scope)
    return [record.text for record in memory.get_all(**scope)]


def score(memory: Memory, split: str) -> tuple[dict[str, tuple[int, int]], list[tuple[dict, list[str]]]]:
    """{category: (passed, total)} and the failed cases with what was current instead."""
    data, cases = load_cases(split)
    passed, total, failures = Counter(), Counter(), []
    for case in cases:
        current = run_case(memory, data, case)
        total[case["category"]] += 1
        if sorted(current) == sorted(case["expect"]):
            passed[case["category"]] += 1
        else:
            failures.append((case, current))
    return {category: (passed[category], total[category]) for category in total}, failures


def table(results: dict[str, tuple[int, int]]) -> str:
    lines = [f"{'category':<22} {'passed':>6} {'cases':>6} {'accuracy':>9}"]
    for category, (ok, count) in results.items():
        lines.append(f"{category:<22} {ok:>6} {count:>6} {ok / count:>9.1%}")
    ok, count = sum(r[0] for r in results.values()), sum(r[1] for r in results.values())
    lines.append(f"{'overall':<22} {ok:>6} {count:>6} {ok / count:>9.1%}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("dev", "holdout", "all"), default="dev")
    parser.add_argument("--failures", action="store_true", help="print each failed case")
    args = parser.parse_args()
    from langmem_plugin.embeddings.minilm import MiniLMEmbeddings

    with (
        tempfile.TemporaryDirectory() as folder,
        Memory({"path": folder}, embeddings=MiniLMEmbeddings()) as memory,
    ):
        results, failures = score(memory, args.split)
    print(table(results))
    if args.failures:
        for case, current in failures:
            print(f"\n{case['id']}: {case['say']!r}\n  prior:    {case['prior']}")
            print(f"  expected: {case['expect']}\n  current:  {current}")


if __name__ == "__main__":
    main()
