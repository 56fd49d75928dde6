"""`kam-sync run` and `status`: the nightly sync and what it did (`plan` and `explain` are in
review_cmds)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from kam_sync.cli.lifecycle import RunRecord, exit_code_for, outcome_for, run_lifecycle
from kam_sync.cli.progress import StepProgress
from kam_sync.cli.report_cmd import write_after_run
from kam_sync.engine.failure import RunFailedError
from kam_sync.errors import ConfigError, ExitCode, KamSyncError

if TYPE_CHECKING:
    # The engine, the store and the connectors are imported where a command uses them: the
    # parser of every command is built at each start, and most commands need few of them.
    from kam_sync.config.loader import LoadedProject
    from kam_sync.engine.alerts import AccountRef
    from kam_sync.engine.pipeline import RunOutcome
    from kam_sync.engine.summary import RunSummary
    from kam_sync.store import StateStore
    from kam_sync_connectors.base import Connector

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="one sync: pull, assess, write back what changed")
    run.add_argument(
        "--json",
        action="store_true",
        help="print the summary as JSON (a JSON error document when the run fails)",
    )
    run.add_argument("--full", action="store_true", help="ignore watermarks and pull everything")
    run.set_defaults(handler=cmd_run)

    status = sub.add_parser(
        "status", help="last runs, watermarks, retry queue, dead letters, quota"
    )
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.add_argument(
        "--all",
        action="store_true",
        help=f"list every run, retry, dead letter and quarantined record (default: the last "
        f"{STATUS_RUNS} runs and {STATUS_LIST_ROWS} of each list, saying how many more there are)",
    )
    status.set_defaults(handler=cmd_status)


@contextmanager
def _opened(
    project: LoadedProject, stop: threading.Event
) -> Iterator[tuple[StateStore, Connector]]:
    """The store, its run lock (taken before the CRM is contacted), and the connector."""
    from kam_sync.engine.lock import RunLock
    from kam_sync.store import open_store
    from kam_sync_connectors.registry import connect

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
    on_assessed: Callable[..., None] | None = None,
    keep_assessment: bool = False,
) -> RunOutcome:
    """Run (or plan) once under the store's run lock; shared by `run`, `plan`, `schedule`, `demo`.
    A run's outcome holds its assessment only with ``keep_assessment``."""
    from kam_sync.engine.alerts import send_alerts
    from kam_sync.engine.pipeline import RunOptions, SyncEngine

    options = RunOptions(
        mode=mode,
        full=full,
        stop=_RunStop(stop),
        on_assessed=on_assessed,
        keep_assessment=keep_assessment,
    )
    with run_lifecycle(mode) as record, _opened(project, options.stop) as (store, connector):
        progress = StepProgress(enabled=not quiet)
        options.progress = progress
        if mode == "run":
            options.on_finish = partial(
                send_alerts,
                project.config.alerts,
                project=str(project.root),
                accounts=partial(
                    _alerted_accounts,
                    store,
                    connector,
                    project.mapping.objects.account.crm_object,
                ),
            )
        try:
            outcome = SyncEngine(project, connector, store).run(options)
        finally:
            progress.close()
            if mode == "run":
                write_after_run(project, store)  # report.after_run, however the run ended
        record.summary = outcome.summary
        return outcome


def _alerted_accounts(
    store: StateStore, connector: Connector, crm_object: str, account_ids: Sequence[str]
) -> list[AccountRef]:
    """The accounts a chat alert names: their names from the store, links from the connector."""
    from kam_sync.engine.alerts import AccountRef

    refs = []
    for account_id in account_ids:
        record = store.get_record("account", account_id)
        name = record.get("name") if record else None
        refs.append(
            AccountRef(
                account_id,
                str(name) if name else None,
                connector.record_url(crm_object, account_id),
            )
        )
    return refs


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
    from kam_sync.config.loader import load_project

    stop = threading.Event()
    record = RunRecord(mode="run")
    try:
        with run_lifecycle("run") as record:
            project = load_project(Path(args.project))
            with stopping_on_signals(stop):
                outcome = execute(project, "run", full=args.full, quiet=args.json, stop=stop)
    except BaseException as exc:
        if args.json:
            document = error_document(exc, mode="run", run_id=record.run_id)
            print(json.dumps(document, indent=2, sort_keys=True))
        raise
    summary = outcome.summary
    if args.json:
        print(json.dumps(summary.to_json(), indent=2, sort_keys=True))
    else:
        print(format_summary(summary))
    return int(summary.exit_code())


def error_document(error: BaseException, *, mode: str, run_id: int | None) -> dict[str, Any]:
    """What `run --json` prints when the run fails: the exit code and what the terminal's error
    line says, never an unforeseen error's text (it may hold record values)."""
    code = exit_code_for(error)
    if isinstance(error, RunFailedError):
        message: str = error.summary
    elif isinstance(error, KamSyncError):
        message = str(error)
    elif isinstance(error, KeyboardInterrupt):
        message = "aborted by a second stop request"
    else:
        message = f"{mode} failed: {type(error).__name__}"
    document: dict[str, Any] = {
        "mode": mode,
        "run_id": run_id,
        "status": "failed",
        "exit_code": code,
        "headline": outcome_for(code),
        "error": {"type": type(error).__name__, "message": message},
    }
    if isinstance(error, RunFailedError):
        document["error"] |= {"step": error.step, "cause": error.error_type}
    if isinstance(error, ConfigError):
        document["error"]["issues"] = [
            {
                "file": str(i.file) if i.file else None,
                "line": i.line,
                "col": i.col,
                "message": i.message,
            }
            for i in error.issues
        ]
    return document


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
        + _step_times(summary.step_seconds)
        + (
            f", peak memory {summary.peak_memory_mib} MiB"
            if summary.peak_memory_mib is not None
            else ""
        ),
    ]
    if summary.currency:  # the one currency every amount is in (the CRM's corporate currency)
        lines.append(
            f"  money:       in {summary.currency}, the CRM's corporate (company) currency"
        )
    if summary.error:
        lines.append(f"  note:        {summary.error}")
    return "\n".join(lines)


# Counters a connector reports beside its calls that are not calls (Bulk API jobs created).
NOT_CALLS = ("bulk_jobs",)


def _kv(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items()) or "-"


# What `status` lists on a terminal before "... and N more" (`--all` lists everything).
STATUS_RUNS = 10
STATUS_LIST_ROWS = 20


def cmd_status(args: argparse.Namespace) -> int:
    from kam_sync.config.loader import load_project
    from kam_sync.store import open_store
    from kam_sync.store.writes import retry_items

    project = load_project(Path(args.project))
    store = open_store(project.config.store.url, project.root)
    try:
        runs = store.runs(limit=None if args.all else STATUS_RUNS)
        runs_total = store.run_count()
        watermarks = {name: store.watermark(name) for name in ("account", "opportunity")}
        queue = retry_items(store)
        quarantined = store.quarantined()
    finally:
        store.close()
    data: dict[str, Any] = {
        "store": store.description,
        "runs_total": runs_total,
        "runs": [_status_run(r) for r in runs],
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
    print(format_status(data, show_all=args.all))
    return ExitCode.OK


def _status_run(r: dict[str, Any]) -> dict[str, Any]:
    """One ledger entry as `status` shows it: with its duration and exit code."""
    finished = r["finished_at"]
    return {
        "id": r["id"],
        "mode": r["mode"],
        "status": r["status"],
        "exit_code": r.get("exit_code"),
        "started_at": r["started_at"].isoformat(),
        "finished_at": finished.isoformat() if finished else None,
        "duration_seconds": (finished - r["started_at"]).total_seconds() if finished else None,
        "counts": r["counts"],
        "api_calls": r["api_calls"],
        "alerts": r["alerts"],
        "error": r["error"],
    }


def format_status(data: dict[str, Any], *, show_all: bool) -> str:
    """`status` for a terminal: every list cut says how many it left out."""
    limit = None if show_all else STATUS_LIST_ROWS
    lines = [f"store: {data['store']}", "last runs:"]
    for r in data["runs"]:
        counts = r["counts"] or {}
        calls = sum(v for k, v in (r["api_calls"] or {}).items() if k not in NOT_CALLS)
        alerts = r["alerts"] or []
        code = "-" if r["exit_code"] is None else r["exit_code"]
        lines.append(
            f"  #{r['id']} {r['mode']:<4} {r['status']:<11} {r['started_at']}  "
            f"{_duration(r['duration_seconds'])}, exit {code}; "
            f"pulled {sum((counts.get('pulled') or {}).values())}, "
            f"written {counts.get('accounts_written', 0)} accounts "
            f"({counts.get('fields_written', 0)} fields), "
            f"failed {counts.get('write_failures', 0)}, alerts {len(alerts)}"
            + (f" ({', '.join(sorted({str(a.get('kind')) for a in alerts}))})" if alerts else "")
            + f", API calls {calls}"
            + (f"  [{r['error']}]" if r["error"] else "")
        )
    if len(data["runs"]) < data["runs_total"]:
        lines.append(
            f"  ... and {data['runs_total'] - len(data['runs'])} more runs (--all lists them all)"
        )
    if data["runs"] and data["runs"][0]["api_calls"]:
        lines.append(f"quota used by the last run: {_kv(data['runs'][0]['api_calls'])}")
    lines.append(
        "watermarks: "
        + ", ".join(f"{k} {v or 'none (next pull is full)'}" for k, v in data["watermarks"].items())
    )
    lines.append(f"retry queue: {len(data['retry_queue'])} field writes")
    lines += _listed(
        [
            f"  {q['account_id']} {q['field']}: {q['attempts']} attempts, "
            f"{q['last_error_code']}: {q['last_error']}"
            for q in data["retry_queue"]
        ],
        limit,
    )
    lines.append(
        f"dead letters: {len(data['dead_letters'])} (not retried until their value changes)"
    )
    lines += _listed(
        [
            f"  {q['account_id']} {q['field']}: {q['last_error_code']}: {q['last_error']}"
            for q in data["dead_letters"]
        ],
        limit,
    )
    lines.append(f"quarantine: {len(data['quarantine'])} records")
    lines += _listed(
        [f"  {q['object']} {q['id']}: {q['reason']}" for q in data["quarantine"]], limit
    )
    return "\n".join(lines)


def _listed(rows: list[str], limit: int | None) -> list[str]:
    if limit is None or len(rows) <= limit:
        return rows
    return [*rows[:limit], f"  ... and {len(rows) - limit} more (--all lists them all)"]


def _step_times(step_seconds: dict[str, float]) -> str:
    """The steps that took a tenth of a second or more, in the order they ran."""
    shown = [f"{step} {seconds:.1f} s" for step, seconds in step_seconds.items() if seconds >= 0.1]
    return f" ({', '.join(shown)})" if shown else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not finished"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


__all__ = ["KamSyncError", "execute", "register"]
