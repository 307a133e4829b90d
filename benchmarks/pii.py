"""PII detector benchmark: precision and recall per category of `langmem_plugin.privacy.find_pii`
on a hand-labelled set of sentences (benchmarks/data/pii_sentences.jsonl), about half holding
personal data of every category and half hard negatives (order numbers, dates, prices, version
strings, ZIP codes, sentences about passwords that state none).

A detected span counts as a true positive when its text is a labelled value of its category;
every other detected span is a false positive and every labelled value not detected a false
negative. The JSON lists each miss and false alarm beside the figures.

It also times `screen_text`, which every write runs on every message: CPU microseconds per text
(best of 5 passes) with the default policy (secrets and cards redacted) and with every category
redacted, over the labelled sentences and, with `--locomo`, over every turn of a LoCoMo file
(everyday chat, the common case).

    python benchmarks/pii.py --locomo ../shared/data/locomo/locomo_dev.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import phonenumbers

from langmem_plugin.config import PrivacyConfig
from langmem_plugin.locomo_format import parse_conversation
from langmem_plugin.privacy import PLACEHOLDERS, find_pii, screen_text

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


def screening_cost(texts: list[str], region: str) -> dict:
    """CPU µs per text of `screen_text`, best of 5 passes, for the default and the strictest policy."""
    policies = {
        "default": PrivacyConfig(phone_region=region),
        "all_redacted": PrivacyConfig.model_validate(
            {"phone_region": region, "pii": dict.fromkeys(PLACEHOLDERS, "redact")}
        ),
    }
    cost = {"texts": len(texts), "mean_characters": round(sum(map(len, texts)) / len(texts), 1)}
    for name, policy in policies.items():
        best = float("inf")
        for _ in range(5):
            started = time.process_time()
            for text in texts:
                screen_text(policy, text)
            best = min(best, time.process_time() - started)
        cost[f"{name}_cpu_us_per_text"] = round(best / len(texts) * 1e6, 1)
    return cost


def locomo_turns(path: Path) -> list[str]:
    """What each turn of every conversation of a LoCoMo file says, as `import` stores it."""
    samples = json.loads(path.read_text(encoding="utf-8"))
    return [turn.content for sample in samples for turn in parse_conversation(sample).turns]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DATA, help="labelled JSONL: text + pii [{category, value}]"
    )
    parser.add_argument("--region", default="US", help="privacy.phone_region for national phone formats")
    parser.add_argument("--locomo", type=Path, help="also time screening over this LoCoMo file's turns")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    report = {
        "benchmark": "pii",
        "date": datetime.now(UTC).date().isoformat(),
        "python": platform.python_version(),
        "phonenumbers": phonenumbers.__version__,
        "region": args.region,
        **evaluate(rows, args.region),
        "screening_cost": {"labelled_sentences": screening_cost([row["text"] for row in rows], args.region)},
    }
    if args.locomo:
        report["screening_cost"]["locomo_turns"] = screening_cost(locomo_turns(args.locomo), args.region)
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
