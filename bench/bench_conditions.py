"""What checking conditions costs when the rules load (issue 11, point 4).

Run by hand:

    .venv/bin/python bench/bench_conditions.py [--repeat 5]

The default pack, and the default pack with every one of the 57 checklist questions given an
evidence and a not-applicable condition (114 checklist conditions), plus the tiers,
classification and stage gates. Prints the whole load and the share spent checking conditions
(allow-list walk, polars compile, empty-frame and sample-frame evaluation), in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from kam_sync.config import conditions
from kam_sync.rules import load_rule_pack

RULES = Path(__file__).resolve().parent.parent / "rules"
KINDS = ("scoring", "governance", "checklist", "stages")

EVIDENCE = (
    "executive_sponsor IS NOT NULL AND contacts_engaged >= 3",
    "'technical_expert' = ANY(team_roles) OR ARRAY_LENGTH(team_roles) >= 4",
    "won_amount_12m >= 250000 AND industry IN ('Banking', 'Insurance')",
    "TRY_CAST(domain AS INTEGER) IS NULL AND LOWER(country) LIKE 'de%'",
    "EXTRACT(year FROM created_at) >= 2015 AND days_since_last_win <= 365",
    "COALESCE(employees, 0) BETWEEN 100 AND 100000",
)
NOT_APPLICABLE = (
    "won_amount_12m = 0 AND won_amount_prev_12m = 0",
    "public_company = false",
    "account_type IS NOT NULL AND account_type NOT IN ('Customer')",
)


class _Timer:
    """Adds up the time spent in ConditionChecker (construction and checks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.checks = 0
        check, init = conditions.ConditionChecker.check, conditions.ConditionChecker.__init__

        def timed_check(checker: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return check(checker, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.checks += 1

        def timed_init(checker: Any, *args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            init(checker, *args, **kwargs)
            self.seconds += time.perf_counter() - start

        conditions.ConditionChecker.check = timed_check  # type: ignore[method-assign]
        conditions.ConditionChecker.__init__ = timed_init  # type: ignore[method-assign]


def _full_checklist(folder: Path) -> dict[str, Path]:
    files = {k: RULES / f"{k}.yaml" for k in KINDS}
    data = yaml.safe_load(files["checklist"].read_text(encoding="utf-8"))
    n = 0
    for body in data["categories"].values():
        for question in body["questions"]:
            question["evidence"] = EVIDENCE[n % len(EVIDENCE)]
            question["not_applicable_when"] = NOT_APPLICABLE[n % len(NOT_APPLICABLE)]
            n += 1
    target = folder / "checklist.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    files["checklist"] = target
    print(f"checklist: {n} questions, each with evidence and not_applicable_when")
    return files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    timer = _Timer()
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "default pack": {k: RULES / f"{k}.yaml" for k in KINDS},
            "57 questions x 2 conditions": _full_checklist(Path(tmp)),
        }
        load_rule_pack(cases["default pack"])  # imports, caches
        for name, files in cases.items():
            totals, checking = [], []
            for _ in range(args.repeat):
                timer.seconds, timer.checks = 0.0, 0
                start = time.perf_counter()
                pack, issues = load_rule_pack(files)
                totals.append(time.perf_counter() - start)
                checking.append(timer.seconds)
                assert pack is not None, issues
            print(
                f"{name}: {timer.checks} conditions; load {statistics.median(totals) * 1000:.0f} ms, "
                f"of which checking conditions {statistics.median(checking) * 1000:.0f} ms "
                f"(median of {args.repeat})"
            )


if __name__ == "__main__":
    main()
