"""Backtest benchmark: rebuild the portfolio as of a past date, score it, compare with the
revenue won after it, for the rules and the naive baseline.

Run by hand, one core:

    POLARS_MAX_THREADS=1 .venv/bin/python bench/bench_backtest.py [--accounts 100000] [--opportunities 500000]

Target (issue 16): 100,000 accounts with 500,000 opportunities in under 10 s. The portfolio is
bench_rules.py's synthetic one (deterministic, generated from hashes of row numbers).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

from bench_rules import AS_OF, default_pack_and_portfolio

from kam_sync.engine.backtest import BacktestSettings, run_backtest

RULES = Path(__file__).resolve().parent.parent / "rules"


def main() -> None:
    args, pack, accounts, opportunities = default_pack_and_portfolio(
        (__doc__ or "").splitlines()[0]
    )
    settings = BacktestSettings(
        as_of=(AS_OF - timedelta(days=365)).date(), horizon_months=12, data_until=AS_OF
    )
    best = float("inf")
    result = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = run_backtest(accounts, opportunities, pack, settings)
        best = min(best, time.perf_counter() - t0)
    assert result is not None
    data = result.to_json()
    print(f"backtest as of {data['as_of']}, {data['horizon_months']} months: best of {args.repeat}")
    print(f"wall time:                    {best:8.3f} s  (target < 10 s)")
    print(f"opportunities as of the date: {data['opportunities_used']:,}")
    rules, baseline = data["rules"], data["baseline"]
    print(f"top-decile lift rules / baseline: {rules['top_decile']['lift']} / "
          f"{baseline['top_decile']['lift']}")  # fmt: skip


if __name__ == "__main__":
    main()
