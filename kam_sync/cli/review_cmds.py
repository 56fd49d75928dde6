"""`kam-sync plan`, `explain` and `backtest`: reviewing rules and results before they matter.

- ``plan``: everything but the write-back, account by account with names, tier changes first;
  with ``--rules DIR`` the impact preview of a proposed rule pack against the one in use
  (``--offline``: from the stored snapshot, without a CRM call).
- ``explain ID``: every signal of every factor, open questions, gates in words, next tier.
- ``backtest --as-of DATE``: would the rules have picked the accounts that brought revenue?
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kam_sync.cli import review_render as render
from kam_sync.cli.backtest_cmd import register_backtest
from kam_sync.cli.lifecycle import run_lifecycle
from kam_sync.cli.sync_cmds import execute, format_summary
from kam_sync.errors import ExitCode

if TYPE_CHECKING:
    import polars as pl

    from kam_sync.config.loader import LoadedProject
    from kam_sync.config.rule_pack import RulePack
    from kam_sync.engine.preview import Portfolio
    from kam_sync.engine.summary import RunSummary
    from kam_sync.rules import GovernanceHistory
    from kam_sync.writeback.diff import OutOfScopeAccount, WritePlan

DEFAULT_TABLE_ACCOUNTS = 50  # accounts a table lists before "... and N more"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = sub.add_parser(
        "plan",
        help="dry run: everything but the write-back, account by account; with --rules, the "
        "impact of proposed rules",
    )
    plan.add_argument(
        "--format",
        choices=("table", "json", "csv", "html"),
        default="table",
        help="output format (csv, json and html carry every value in full)",
    )
    plan.add_argument("--full", action="store_true", help="ignore watermarks and pull everything")
    plan.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_TABLE_ACCOUNTS,
        help="accounts listed in table format",
    )
    plan.add_argument(
        "--rules",
        metavar="DIR",
        help="impact preview: score the portfolio under the rule files in DIR (scoring.yaml, "
        "governance.yaml, checklist.yaml, stages.yaml; one it lacks is the project's) and under "
        "the rules in use, side by side",
    )
    plan.add_argument(
        "--offline",
        action="store_true",
        help="with --rules: use the state store's snapshot (the last run's data), no CRM call",
    )
    plan.add_argument(
        "--select",
        metavar="IDS|CONDITION",
        help="only these accounts: comma-separated account ids, or a condition as in the rule "
        "files, e.g. \"tier IN ('key', 'strategic')\" or \"industry = 'Banking'\"",
    )
    plan.set_defaults(handler=cmd_plan, parser=plan)

    explain = sub.add_parser(
        "explain", help="why an account got its score, tier, stage and gaps, signal by signal"
    )
    explain.add_argument("account_id", help="the account's CRM id")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.add_argument(
        "--rules",
        metavar="DIR",
        help="explain under the rule files in DIR instead (the stored snapshot, no CRM call)",
    )
    explain.set_defaults(handler=cmd_explain, parser=explain)

    register_backtest(sub)


# -- plan ------------------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace) -> int:
    # A config error or a refused lock still logs the plan's end line with its exit code.
    with run_lifecycle("plan"):
        return _plan(args)


def _plan(args: argparse.Namespace) -> int:
    from kam_sync.config.loader import load_project
    from kam_sync.engine.preview import Portfolio, compare, load_proposed_rules

    project = load_project(Path(args.project))
    proposed: RulePack | None = None
    inherited: list[str] = []
    if args.rules:
        proposed, inherited = load_proposed_rules(project, Path(args.rules))
    elif args.offline:
        args.parser.error("--offline needs --rules DIR (the rules to compare with those in use)")
    if args.limit < 1:
        args.parser.error("--limit must be at least 1")
    if proposed is not None and args.offline:
        return _offline_preview(args, project, proposed, inherited)
    seen: dict[str, Any] = {}

    def on_assessed(
        accounts: pl.DataFrame,
        opportunities: Callable[[], pl.DataFrame],
        history: GovernanceHistory,
        as_of: datetime,
    ) -> None:
        # Runs inside the plan while its pull is readable: the proposed pack sees that data.
        portfolio = Portfolio(accounts, opportunities, history, as_of)
        seen["names"] = dict(accounts.select("id", "name").iter_rows())
        if args.select:
            seen["selected"] = _selection(args, project.rules, portfolio)
        if proposed is not None:
            seen["preview"] = compare(
                portfolio, project.rules, proposed, selected=seen.get("selected")
            ).to_json()

    outcome = execute(
        project, "plan", full=args.full, quiet=args.format != "table", on_assessed=on_assessed
    )
    summary = outcome.summary
    if "preview" in seen:
        data = seen["preview"] | _preview_context(args, inherited, "after a pull")
        data |= {"headline": summary.headline(), "exit_code": int(summary.exit_code())}
        _print_preview(args, data)
        return int(summary.exit_code())
    rows = plan_rows(outcome.plan, seen.get("names", {}), seen.get("selected"))
    writes = estimate_write_calls(project, len({r["account_id"] for r in rows}))
    if args.format == "json":
        plan = outcome.plan
        payload = summary.to_json() | {
            "changes": rows,
            "estimated_write_calls": writes,
            "protected": [asdict(p) for p in plan.protected] if plan else [],
            "out_of_scope_accounts": [asdict(a) for a in plan.out_of_scope] if plan else [],
        }
        print(json.dumps(payload, indent=2, sort_keys=True, default=str))
    elif args.format == "csv":
        sys.stdout.write(render.plan_csv(rows))
    elif args.format == "html":
        sys.stdout.write(render.plan_html(summary.headline(), rows))
    else:
        out_of_scope = outcome.plan.out_of_scope if outcome.plan is not None else []
        print(format_plan(summary, rows, writes, limit=args.limit, out_of_scope=out_of_scope))
    # The same rules as `run` (write failures cannot happen; alerts and quarantine can), so
    # the exit code matches the JSON's exit_code.
    return int(summary.exit_code())


def _selection(args: argparse.Namespace, pack: RulePack, portfolio: Portfolio) -> set[str]:
    from kam_sync.engine.preview import select_accounts

    result = portfolio.assess(pack)
    try:
        return select_accounts(
            args.select, portfolio.accounts, result.metrics, result.assessments, pack
        )
    except ValueError as exc:
        args.parser.error(f"--select: {exc}")
        raise  # parser.error exits; for mypy


def _offline_preview(
    args: argparse.Namespace, project: LoadedProject, proposed: RulePack, inherited: list[str]
) -> int:
    from kam_sync.engine.preview import compare, load_portfolio
    from kam_sync.store import open_store

    store = open_store(project.config.store.url, project.root)
    try:
        portfolio = load_portfolio(project, store, datetime.now(UTC))
        if portfolio.accounts.height == 0:
            print(
                "kam-sync: the state store holds no accounts yet; run `kam-sync run` once, or "
                "leave out --offline to pull them",
                file=sys.stderr,
            )
            return ExitCode.FAILURE
        selected = _selection(args, project.rules, portfolio) if args.select else None
        data = compare(portfolio, project.rules, proposed, selected=selected).to_json()
    finally:
        store.close()
    _print_preview(args, data | _preview_context(args, inherited, "the stored snapshot"))
    return ExitCode.OK


def _preview_context(args: argparse.Namespace, inherited: list[str], source: str) -> dict[str, Any]:
    return {
        "source": source,
        "rules": str(args.rules),
        "rule_files_from_project": inherited,
        "selection": args.select,
    }


def _print_preview(args: argparse.Namespace, data: dict[str, Any]) -> None:
    if args.format == "json":
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    elif args.format == "csv":
        sys.stdout.write(render.preview_csv(data))
    elif args.format == "html":
        sys.stdout.write(render.preview_html(data))
    else:
        print(render.preview_table(data, limit=args.limit))


def plan_rows(
    plan: WritePlan | None, names: dict[str, str | None], selected: set[str] | None
) -> list[dict[str, str]]:
    """One row per account and field, full values; accounts whose tier changes first."""
    if plan is None:
        return []
    accounts = [a for a in plan.updates if selected is None or a in selected]
    accounts.sort(key=lambda a: ("kam_tier" not in plan.updates[a], a))
    rows = []
    for account_id in accounts:
        for name, new in plan.updates[account_id].items():
            rows.append(
                {
                    "account_id": account_id,
                    "name": names.get(account_id) or "",
                    "field": name,
                    "current": _text(plan.current[account_id].get(name)),
                    "new": _text(new),
                }
            )
    return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(map(str, value))
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def estimate_write_calls(project: LoadedProject, accounts: int) -> dict[str, int]:
    """The API calls the plan's writes would cost, as the CRM's registry entry counts them."""
    if accounts == 0:
        return {"write": 0}
    from kam_sync_connectors.registry import entry

    crm = entry(project.config.crm.type)
    return crm.estimate_write_calls(project.config.connector_settings(), accounts)


def format_plan(
    summary: RunSummary,
    rows: list[dict[str, str]],
    writes: dict[str, int],
    *,
    limit: int,
    out_of_scope: Sequence[OutOfScopeAccount] = (),
) -> str:
    lines = [
        format_summary(summary).replace(
            f"kam-sync plan #{summary.run_id}", "kam-sync plan (nothing was written)"
        )
    ]
    lines.append(
        f"  would write: {summary.accounts_to_write} accounts  "
        + (", ".join(f"{k} {v}" for k, v in summary.changes_by_field.items()) or "-")
    )
    lines.append(
        "  would spend: "
        + (", ".join(f"{k} {v}" for k, v in writes.items()) or "-")
        + " write calls"
    )
    if out_of_scope:
        verb = "cleared" if out_of_scope[0].action == "clear" else "kept"
        lines.append(f"  out of scope (KAM values {verb}):")
        for account in out_of_scope[:limit]:
            lines.append(f"    {account.account_id}  {account.name or ''}".rstrip())
        if len(out_of_scope) > limit:
            lines.append(f"    ... and {len(out_of_scope) - limit} more (use --format json)")
    shown = 0
    current_account = None
    total = len({r["account_id"] for r in rows})
    for row in rows:
        if row["account_id"] != current_account:
            if shown >= limit:
                lines.append(
                    f"  ... and {total - shown} more accounts (--format json, csv or html lists "
                    "them all)"
                )
                break
            current_account = row["account_id"]
            shown += 1
            lines.append(f"  {current_account}  {render.shorten(row['name'], 40)}".rstrip())
        current = render.shorten(row["current"]) or "-"
        lines.append(f"    {row['field']:<26} {current:>20} -> {render.shorten(row['new'])}")
    return "\n".join(lines)


# -- explain ---------------------------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> int:
    from kam_sync.config.loader import load_project
    from kam_sync.engine.preview import load_proposed_rules
    from kam_sync.engine.report import explain_account
    from kam_sync.store import open_store

    project = load_project(Path(args.project))
    rules = load_proposed_rules(project, Path(args.rules))[0] if args.rules else None
    store = open_store(project.config.store.url, project.root)
    try:
        report = explain_account(project, store, args.account_id, rules=rules)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render.explain_text(report))
    return ExitCode.OK


__all__ = ["register"]
