"""PII detector benchmark: precision and recall per category of `langmem_plugin.privacy.find_pii`
on a hand-labelled set of sentences (benchmarks/data/pii_sentences.jsonl), about half holding
personal data of every category and half hard negatives (order numbers, dates, prices, version
strings, ZIP codes, sentences about passwords that state none).

A detected span counts as a true positive when its text is a labelled value of its category;
every other detected span is a false positive and every labelled value not detected a false
negative. The JSON lists each miss and false alarm beside the figures.

    python benchmarks/pii.py
"""

from __future__ import annotations

import argparse
import json
import platform
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import phonenumbers

from langmem_plugin.privacy import PLACEHOLDERS, find_pii

DATA = Path(__file__).resolve().parent / "data" / "pii_sentences.jsonl"


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def evaluate(rows: list[dict], region: str) -> dict:
    counts: dict[str, Counter] = {category: Counter() for category in PLACEHOLDERS}
    misses, false_alarms = [], []
    for row in rows:
        text = row["text"]
        expected = Counter((label["category"], label["value"]) for label in row["pii"])
        found = Counter((span.category, text[span.start : span.end]) for span in find_pii(text, region))
        for (category, value), n in (found & expected).items():
            counts[category]["tp"] += n
        for (category, value), n in (found - expected).items():
            counts[category]["fp"] += n
            false_alarms.append({"category": category, "value": value, "text": text})
        for (category, value), n in (expected - found).items():
            counts[category]["fn"] += n
            misses.append({"category": category, "value": value, "text": text})
    per_category = {
        category: {
            "labelled": c["tp"] + c["fn"],
            "precision": _ratio(c["tp"], c["tp"] + c["fp"]),
            "recall": _ratio(c["tp"], c["tp"] + c["fn"]),
            **{k: c[k] for k in ("tp", "fp", "fn")},
        }
        for category, c in counts.items()
    }
    total = sum(counts.values(), Counter())
    return {
        "sentences": len(rows),
        "sentences_with_pii": sum(1 for row in rows if row["pii"]),
        "per_category": per_category,
        "overall": {
            "precision": _ratio(total["tp"], total["tp"] + total["fp"]),
            "recall": _ratio(total["tp"], total["tp"] + total["fn"]),
        },
        "misses": misses,
        "false_alarms": false_alarms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DATA, help="labelled JSONL: text + pii [{category, value}]"
    )
    parser.add_argument("--region", default="US", help="privacy.phone_region for national phone formats")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    report = {
        "benchmark": "pii",
        "date": datetime.now(UTC).date().isoformat(),
        "python": platform.python_version(),
        "phonenumbers": phonenumbers.__version__,
        "region": args.region,
        **evaluate(rows, args.region),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
