"""`kam-sync backtest --as-of DATE`: the rules scored on the past, checked against what came."""

from __future__ import annotations

import argparse
import html
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from kam_sync.cli import review_render as render
from kam_sync.engine.backtest_defaults import DEFAULT_HORIZON_MONTHS, DEFAULT_LARGEST_SHARE
from kam_sync.errors import ExitCode


def register_backtest(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backtest = sub.add_parser(
        "backtest",
        help="score the portfolio as of a past date and compare with the revenue won after it",
    )
    backtest.add_argument(
        "--as-of", required=True, metavar="DATE", help="the past date, YYYY-MM-DD"
    )
    backtest.add_argument(
        "--horizon-months",
        type=int,
        default=DEFAULT_HORIZON_MONTHS,
        metavar="N",
        help="months after DATE whose won revenue is the outcome",
    )
    backtest.add_argument(
        "--rules", metavar="DIR", help="score with the rule files in DIR instead of the project's"
    )
    backtest.add_argument(
        "--format",
        choices=("table", "json", "html"),
        default="table",
        help="output format",
    )
    backtest.add_argument(
        "--largest-share",
        type=float,
        default=DEFAULT_LARGEST_SHARE,
        metavar="SHARE",
        help="precision and recall are measured against this share of accounts with the most "
        "revenue in the horizon (0.1: the top tenth)",
    )
    backtest.add_argument(
        "--open-probability",
        type=float,
        metavar="PERCENT",
        help="probability given to deals open at DATE (default: the mean of today's open deals)",
    )
    backtest.set_defaults(handler=cmd_backtest, parser=backtest)


def cmd_backtest(args: argparse.Namespace) -> int:
    from kam_sync.config.loader import load_project
    from kam_sync.engine.backtest import BacktestSettings, run_backtest
    from kam_sync.engine.frames import ACCOUNT_INPUT_COLUMNS, load_snapshot
    from kam_sync.engine.preview import counted_opportunities, load_proposed_rules, scoped_accounts
    from kam_sync.store import open_store

    try:
        day = date.fromisoformat(args.as_of)
    except ValueError:
        args.parser.error(f"--as-of: '{args.as_of}' is not a date (YYYY-MM-DD)")
    if args.horizon_months < 1:
        args.parser.error("--horizon-months must be at least 1")
    if not 0 < args.largest_share <= 1:
        args.parser.error("--largest-share must be above 0 and at most 1")
    if args.open_probability is not None and not 0 <= args.open_probability <= 100:
        args.parser.error("--open-probability must be between 0 and 100")
    now = datetime.now(UTC)
    if day >= now.date():
        args.parser.error("--as-of must be a date in the past")
    project = load_project(Path(args.project))
    pack = load_proposed_rules(project, Path(args.rules))[0] if args.rules else project.rules
    store = open_store(project.config.store.url, project.root)
    try:
        accounts = scoped_accounts(
            project, load_snapshot(store, "account", columns=ACCOUNT_INPUT_COLUMNS)
        )
        opportunities = counted_opportunities(project, store)
    finally:
        store.close()
    if accounts.height == 0:
        print("kam-sync: the state store holds no accounts yet; run `kam-sync run` first")
        return ExitCode.FAILURE
    settings = BacktestSettings(
        as_of=day,
        horizon_months=args.horizon_months,
        largest_share=args.largest_share,
        open_probability=args.open_probability,
        data_until=now,
    )
    data = run_backtest(accounts, opportunities, pack, settings).to_json()
    data["rules_from"] = str(args.rules) if args.rules else "the project"
    if args.format == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
    elif args.format == "html":
        print(backtest_html(data))
    else:
        print(backtest_table(data))
    return ExitCode.OK


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _ranking_lines(title: str, figures: dict[str, Any]) -> list[str]:
    top = figures["top_decile"]
    lines = [
        f"  {title}:",
        f"    key list: {figures['key_accounts']} accounts hold {_pct(figures['key_revenue_share'])}"
        " of the revenue",
        f"    top decile: {top['accounts']} accounts hold {_pct(top['revenue_share'])}, lift "
        f"{render.number(top['lift'], 2)}",
        f"    precision {_pct(figures['precision'])}, recall {_pct(figures['recall'])} (key list "
        "against the largest accounts)",
        "    calibration (decile 1 = highest): decile, accounts, mean, revenue share, buying",
    ]
    for row in figures["calibration"]:
        lines.append(
            f"      {row['decile']:>2}  {row['accounts']:>7}  {row['mean_rank_value']:>12.2f}  "
            f"{_pct(row['revenue_share']):>8}  {_pct(row['buying_share']):>8}"
        )
    return lines


def backtest_table(d: dict[str, Any]) -> str:
    lines = [
        f"backtest as of {d['as_of']}: revenue won {d['as_of']} .. {d['horizon_end']} "
        f"({d['horizon_months']} months{'' if d['horizon_complete'] else ', not complete yet'})",
        f"  {d['accounts']} accounts, {d['opportunities_used']} opportunities as of the date; "
        f"revenue in the horizon {d['revenue']}; rules from {d['rules_from']}",
        "  ACCOUNT FIELDS ARE AS THEY ARE NOW (the store keeps no history of them)",
        "  tiers: tier, accounts, share of accounts, share of revenue, lift",
    ]
    for t in d["tiers"]:
        lines.append(
            f"    {t['tier']:<10} {t['accounts']:>7}  {_pct(t['account_share']):>8}  "
            f"{_pct(t['revenue_share']):>8}  {render.number(t['lift'], 2):>6}"
        )
    lines += _ranking_lines("the rules (ranked by score)", d["rules"])
    lines += _ranking_lines("naive baseline (ranked by won revenue, last 12 months)", d["baseline"])
    lines.append(
        f"  largest accounts: the top {d['largest_share']:g} by revenue in the horizon "
        f"({d['largest_accounts']} accounts)"
    )
    lines += [f"  note: {n}" for n in d["notes"]]
    return "\n".join(lines)


def backtest_html(d: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for title, key in (
        ("Rules (score)", "rules"),
        ("Baseline (won revenue, 12 months)", "baseline"),
    ):
        f = d[key]
        rows.append(
            [title, str(f["key_accounts"]), _pct(f["key_revenue_share"]),
             _pct(f["top_decile"]["revenue_share"]), render.number(f["top_decile"]["lift"], 2),
             _pct(f["precision"]), _pct(f["recall"])]
        )  # fmt: skip
    calibration = [
        [str(a["decile"]), str(a["accounts"]), f"{a['mean_rank_value']:.2f}",
         _pct(a["revenue_share"]), f"{b['mean_rank_value']:.2f}" if b else "-",
         _pct(b["revenue_share"]) if b else "-"]
        for a, b in zip(d["rules"]["calibration"],
                        d["baseline"]["calibration"] + [None] * 10, strict=False)
    ]  # fmt: skip
    return "\n".join(
        [
            render._html_head("kam-sync backtest"),
            f"<h1>Backtest as of {e(d['as_of'])}</h1>",
            f"<p>Revenue won up to {e(d['horizon_end'])} ({d['horizon_months']} months"
            f"{'' if d['horizon_complete'] else ', not complete yet'}): {e(d['revenue'])} over "
            f"{d['accounts']} accounts. <strong>Account fields are as they are now.</strong></p>",
            render._html_table(
                ["Tier", "Accounts", "Share of accounts", "Share of revenue", "Lift"],
                (
                    [
                        t["tier"],
                        str(t["accounts"]),
                        _pct(t["account_share"]),
                        _pct(t["revenue_share"]),
                        render.number(t["lift"], 2),
                    ]
                    for t in d["tiers"]
                ),
            ),
            render._html_table(
                [
                    "Ranking",
                    "Key list",
                    "Key list revenue share",
                    "Top decile share",
                    "Top decile lift",
                    "Precision",
                    "Recall",
                ],
                rows,
            ),
            "<h2>Calibration by decile (1 = highest)</h2>",
            render._html_table(
                [
                    "Decile",
                    "Accounts",
                    "Mean score",
                    "Revenue share",
                    "Baseline mean 12-month revenue",
                    "Baseline revenue share",
                ],
                calibration,
            ),
            "<ul>" + "".join(f"<li>{e(n)}</li>" for n in d["notes"]) + "</ul>",
            "</body></html>",
        ]
    )
