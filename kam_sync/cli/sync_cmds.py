"""`kam-sync plan`, `run`, `status` and `explain`: the nightly sync and what it did."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from kam_sync.cli.progress import StepProgress
from kam_sync.config.loader import LoadedProject, load_project
from kam_sync.engine.alerts import send_alerts
from kam_sync.engine.lock import RunLock
from kam_sync.engine.pipeline import RunOptions, RunOutcome, SyncEngine
from kam_sync.engine.report import explain_account
from kam_sync.engine.summary import RunSummary
from kam_sync.errors import ExitCode, KamSyncError
from kam_sync.store import StateStore, open_store
from kam_sync.store.writes import retry_items
from kam_sync.writeback.diff import OutOfScopeAccount
from kam_sync_connectors.base import Connector
from kam_sync_connectors.registry import connect, entry

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = sub.add_parser(
        "plan", help="dry run: everything but the write-back; shows what would change"
    )
    plan.add_argument("--format", choices=("table", "json", "csv"), default="table")
    plan.add_argument("--full", action="store_true", help="ignore watermarks and pull everything")
    plan.add_argument(
        "--limit", type=int, default=50, help="accounts listed in table format (default 50)"
    )
    plan.set_defaults(handler=cmd_plan)

    run = sub.add_parser("run", help="one sync: pull, assess, write back what changed")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--full", action="store_true", help="ignore watermarks and pull everything")
    run.set_defaults(handler=cmd_run)

    status = sub.add_parser(
        "status", help="last runs, watermarks, retry queue, dead letters, quota"
    )
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    explain = sub.add_parser("explain", help="why an account got its score, tier, stage and gaps")
    explain.add_argument("account_id")
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(handler=cmd_explain)


@contextmanager
def _opened(
    project: LoadedProject, stop: threading.Event
) -> Iterator[tuple[StateStore, Connector]]:
    """The store, its run lock (taken before the CRM is contacted), and the connector."""
    store = open_store(project.config.store.url, project.root)
    try:
        stale_after = timedelta(seconds=project.config.store.lock_stale_seconds)
        with RunLock(store, stale_after=stale_after, on_lost=stop.set):
            connector = connect(
                project.config.crm.type, project.config.connector_settings(), os.environ
            )
            try:
                yield store, connector
            finally:
                connector.close()
    finally:
        store.close()


def execute(
    project: LoadedProject,
    mode: str,
    *,
    full: bool = False,
    quiet: bool = False,
    stop: threading.Event | None = None,
) -> RunOutcome:
    """Run (or plan) once under the store's run lock; shared by `run`, `plan`, `schedule`, `demo`."""
    options = RunOptions(mode=mode, full=full, stop=_RunStop(stop))
    with _opened(project, options.stop) as (store, connector):
        progress = StepProgress(enabled=not quiet)
        options.progress = progress
        if mode == "run":
            options.on_finish = partial(
                send_alerts, project.config.alerts, project=str(project.root)
            )
        try:
            return SyncEngine(project, connector, store).run(options)
        finally:
            progress.close()


class _RunStop(threading.Event):
    """This run's stop request: set for this run alone (its run lock was lost), or through the
    caller's event (a signal; `schedule` keeps one event for all its runs)."""

    def __init__(self, caller: threading.Event | None) -> None:
        super().__init__()
        self._caller = caller

    def is_set(self) -> bool:
        return super().is_set() or (self._caller is not None and self._caller.is_set())


@contextmanager
def stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM or SIGINT asks the run to stop after the batch in flight; a second one aborts.

    The first signal sets ``stop``: the run finishes its current page or chunk, is recorded as
    interrupted, prints its summary and exits 6. A second signal raises KeyboardInterrupt at
    once (exit 130); the run is recorded as interrupted if the store can still be written, and
    otherwise marked abandoned by the next run, which is as safe as after ``kill -9``.
    """

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.warning(
            "received %s: finishing the current batch, then stopping (again to abort at once)",
            signal.Signals(signum).name,
        )
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_run(args: argparse.Namespace) -> int:
    project = load_project(Path(args.project))
    stop = threading.Event()
    with stopping_on_signals(stop):
        outcome = execute(project, "run", full=args.full, quiet=args.json, stop=stop)
    summary = outcome.summary
    if args.json:
        print(json.dumps(summary.to_json(), indent=2, sort_keys=True))
    else:
        print(format_summary(summary))
    return int(summary.exit_code())


def cmd_plan(args: argparse.Namespace) -> int:
    project = load_project(Path(args.project))
    outcome = execute(project, "plan", full=args.full, quiet=args.format != "table")
    summary = outcome.summary
    plan = outcome.plan
    rows = []
    if plan is not None:
        for account_id, values in plan.updates.items():
            for name, new in values.items():
                rows.append(
                    {
                        "account_id": account_id,
                        "field": name,
                        "current": _show(plan.current[account_id].get(name)),
                        "new": _show(new),
                    }
                )
    writes = _estimate_write_calls(project, len(plan.updates) if plan else 0)
    if args.format == "json":
        payload = summary.to_json() | {
            "changes": rows,
            "estimated_write_calls": writes,
            "protected": [asdict(p) for p in plan.protected] if plan else [],
            "out_of_scope_accounts": [asdict(a) for a in plan.out_of_scope] if plan else [],
        }
        print(json.dumps(payload, indent=2, sort_keys=True, default=str))
    elif args.format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["account_id", "field", "current", "new"])
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(out.getvalue())
    else:
        out_of_scope = plan.out_of_scope if plan is not None else []
        print(format_plan(summary, rows, writes, limit=args.limit, out_of_scope=out_of_scope))
    # The same rules as `run` (write failures cannot happen; alerts and quarantine can), so
    # the exit code matches the JSON's exit_code.
    return int(summary.exit_code())


def _estimate_write_calls(project: LoadedProject, accounts: int) -> dict[str, int]:
    """The API calls the plan's writes would cost, as the CRM's registry entry counts them."""
    if accounts == 0:
        return {"write": 0}
    crm = entry(project.config.crm.type)
    return crm.estimate_write_calls(project.config.connector_settings(), accounts)


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(map(str, value))
    if isinstance(value, float):
        return f"{value:.2f}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_summary(summary: RunSummary) -> str:
    lines = [
        f"kam-sync {summary.mode} #{summary.run_id}: {summary.headline()}",
        f"  pulled:      {_kv(summary.pulled)}  (deleted {sum(summary.deleted.values())}, "
        f"quarantined {sum(summary.quarantined.values())})",
        f"  scored:      {summary.scored} accounts in scope",
        f"  tiers:       {_kv(summary.tiers)}  ({summary.tier_changes} changed)",
        f"  key list:    {summary.key_accounts} key accounts"
        + (
            f", cap {summary.key_cap} ({summary.cap_mode}), {summary.over_cap} over the cap"
            if summary.key_cap is not None
            else ", no cap"
        ),
        f"  written:     {summary.accounts_written} accounts, {summary.fields_written} fields"
        f"  {_kv(summary.changes_by_field)}"
        + (
            f"; {summary.adopted} values already in the CRM as wanted (recorded, not sent)"
            if summary.adopted
            else ""
        ),
        f"  failed:      {summary.write_failures} accounts (retried next run); dead letters skipped: {summary.dead_letters}",
        f"  protected:   {summary.protected} values a person edited (flagged manual_override)",
        f"  out of scope: {summary.out_of_scope} accounts holding KAM values kam-sync wrote",
        f"  alerts:      {len(summary.alerts)}"
        + "".join(f"\n    - {a['kind']}: {a['message']}" for a in summary.alerts),
        f"  API calls:   {_kv({k: v for k, v in summary.api_calls.items() if k not in NOT_CALLS})}"
        + (
            f"  (daily quota used {summary.quota_used}/{summary.quota_limit}"
            + (f", from the {summary.quota_source}" if summary.quota_source else "")
            + ")"
            if summary.quota_limit
            else ""
        ),
        f"  time:        {summary.duration_seconds or 0:.1f} s"
        + (
            f", peak memory {summary.peak_memory_mib} MiB"
            if summary.peak_memory_mib is not None
            else ""
        ),
    ]
    if summary.error:
        lines.append(f"  note:        {summary.error}")
    return "\n".join(lines)


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
        f"  would write: {summary.accounts_to_write} accounts  {_kv(summary.changes_by_field)}"
    )
    lines.append(f"  would spend: {_kv(writes)} write calls")
    if out_of_scope:
        verb = "cleared" if out_of_scope[0].action == "clear" else "kept"
        lines.append(f"  out of scope (KAM values {verb}):")
        for account in out_of_scope[:limit]:
            lines.append(f"    {account.account_id}  {account.name or ''}".rstrip())
        if len(out_of_scope) > limit:
            lines.append(f"    ... and {len(out_of_scope) - limit} more (use --format json)")
    shown = 0
    current_account = None
    for row in rows:
        if row["account_id"] != current_account:
            if shown >= limit:
                lines.append("  ... and more accounts (use --format json or csv for all of them)")
                break
            current_account = row["account_id"]
            shown += 1
            lines.append(f"  {current_account}")
        lines.append(f"    {row['field']:<26} {row['current'] or '-':>20} -> {row['new']}")
    return "\n".join(lines)


# Counters a connector reports beside its calls that are not calls (Bulk API jobs created).
NOT_CALLS = ("bulk_jobs",)


def _kv(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items()) or "-"


def cmd_status(args: argparse.Namespace) -> int:
    project = load_project(Path(args.project))
    store = open_store(project.config.store.url, project.root)
    try:
        runs = store.runs(limit=10)
        watermarks = {name: store.watermark(name) for name in ("account", "opportunity")}
        queue = retry_items(store)
        quarantined = store.quarantined()
    finally:
        store.close()
    data: dict[str, Any] = {
        "store": store.description,
        "runs": [
            {
                "id": r["id"],
                "mode": r["mode"],
                "status": r["status"],
                "started_at": r["started_at"].isoformat(),
                "finished_at": r["finished_at"].isoformat() if r["finished_at"] else None,
                "counts": r["counts"],
                "api_calls": r["api_calls"],
                "alerts": r["alerts"],
                "error": r["error"],
            }
            for r in runs
        ],
        "watermarks": {k: v.isoformat() if v else None for k, v in watermarks.items()},
        "retry_queue": [
            asdict(q) | {"first_failed_at": q.first_failed_at.isoformat()}
            for q in queue
            if not q.dead
        ],
        "dead_letters": [
            asdict(q) | {"first_failed_at": q.first_failed_at.isoformat()} for q in queue if q.dead
        ],
        "quarantine": [
            {"object": q.object_name, "id": q.record_id, "field": q.field, "reason": q.reason}
            for q in quarantined
        ],
    }
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return ExitCode.OK
    print(f"store: {data['store']}")
    print("last runs:")
    for r in data["runs"]:
        counts = r["counts"] or {}
        calls = sum((r["api_calls"] or {}).values())
        print(
            f"  #{r['id']} {r['mode']:<4} {r['status']:<11} {r['started_at']}  "
            f"pulled {sum((counts.get('pulled') or {}).values())}, written {counts.get('accounts_written', 0)}, "
            f"failed {counts.get('write_failures', 0)}, API calls {calls}"
            + (f"  [{r['error']}]" if r["error"] else "")
        )
    if runs and runs[0]["api_calls"]:
        print(f"quota used by the last run: {_kv(runs[0]['api_calls'])}")
    print(
        "watermarks: "
        + ", ".join(f"{k} {v or 'none (next pull is full)'}" for k, v in data["watermarks"].items())
    )
    print(f"retry queue: {len(data['retry_queue'])} field writes")
    for q in data["retry_queue"][:20]:
        print(
            f"  {q['account_id']} {q['field']}: {q['attempts']} attempts, {q['last_error_code']}: {q['last_error']}"
        )
    print(f"dead letters: {len(data['dead_letters'])} (not retried until their value changes)")
    for q in data["dead_letters"][:20]:
        print(f"  {q['account_id']} {q['field']}: {q['last_error_code']}: {q['last_error']}")
    print(f"quarantine: {len(data['quarantine'])} records")
    for q in data["quarantine"][:20]:
        print(f"  {q['object']} {q['id']}: {q['reason']}")
    return ExitCode.OK


def cmd_explain(args: argparse.Namespace) -> int:
    project = load_project(Path(args.project))
    store = open_store(project.config.store.url, project.root)
    try:
        report = explain_account(project, store, args.account_id)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(_format_explain(report))
    return ExitCode.OK


def _format_explain(r: dict[str, Any]) -> str:
    lines = [
        f"{r['account_id']} {r.get('name') or ''}  (assessed {r['as_of']})",
        f"  score {r['score']:.1f}/100, classification {r['classification']}, tier {r['tier']}"
        f" (was {r.get('previous_tier') or '-'}): {r['tier_reason']}",
        f"  key-list position: {r['cap_rank'] if r.get('cap_rank') is not None else '-'}; flags: {', '.join(r['flags']) or '-'}",
        "  factors:",
    ]
    for name, value in r["factors"].items():
        lines.append(f"    {name:<22} {value:.2f}")
    lines.append(f"  explanation: {r['score_explanation']}")
    completion = r.get("checklist_completion")
    lines.append(
        f"  checklist: {'-' if completion is None else f'{completion:.0f} %'}; gaps: {r.get('checklist_gaps') or '-'}"
    )
    for cat, value in r["checklist_by_category"].items():
        lines.append(f"    {cat:<14} {'-' if value is None else f'{value:.0f} %'}")
    lines.append(f"  plan stage: {r.get('plan_stage') or 'outside the programme'}")
    for gate in r["stage_gates"]:
        lines.append(
            f"    {gate['stage']:<12} {gate['result']}"
            + (f"  ({gate['when']})" if gate.get("when") else "")
        )
    if r["missing_roles"]:
        lines.append(f"  missing team roles: {', '.join(r['missing_roles'])}")
    return "\n".join(lines)


__all__ = ["KamSyncError", "execute", "register"]
