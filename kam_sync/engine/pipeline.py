"""One sync run: pull -> normalize -> snapshot -> aggregate -> score -> govern -> assess -> diff
-> push -> record (DESIGN.md, "One run, as data flows").

Safety: each pulled page is stored, with its quarantine entries and the watermark it allows, in
one transaction; governance history is stored before any write; each pushed chunk's results are
stored in one transaction. A run killed at any point leaves a store that the next run continues
from, and the diff recomputes what still has to be written, so the CRM converges to the same
state as after an undisturbed run.
"""

from __future__ import annotations

import functools
import logging
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import polars as pl

from kam_sync.canonical import KAM_OUTPUT_FIELDS
from kam_sync.config.conditions import compile_condition, filter_records
from kam_sync.config.loader import LoadedProject
from kam_sync.config.mapping import FILTER_SCHEMAS, ObjectMapping
from kam_sync.engine import run_context
from kam_sync.engine.crm_check import preflight
from kam_sync.engine.failure import RunFailedError, log_failure
from kam_sync.engine.frames import ACCOUNT_INPUT_COLUMNS, ENGINE_OPPORTUNITY_COLUMNS, load_snapshot
from kam_sync.engine.report import save_last_run
from kam_sync.engine.summary import RunSummary
from kam_sync.errors import ExitCode, KamSyncError, QuotaExhaustedError
from kam_sync.mapping.normalize import Normalizer
from kam_sync.rules import (
    GovernanceHistory,
    PortfolioAssessment,
    assess_portfolio,
    compute_metrics,
)
from kam_sync.rules.governance import cap_size
from kam_sync.store import StateStore, open_store
from kam_sync.store.audit import load_history, save_history
from kam_sync.store.writes import (
    RetryItem,
    clear_pending,
    clear_retries,
    forget_accounts,
    load_pending,
    load_written,
    record_failures,
    record_pending,
    record_written,
    retry_items,
)
from kam_sync.writeback.diff import WritePlan, plan_writes
from kam_sync.writeback.values import to_crm
from kam_sync_connectors.base import (
    NOT_SENT,
    Connector,
    PullRequest,
    PushStoppedError,
    RecordUpdate,
)
from kam_sync_connectors.registry import entry

log = logging.getLogger(__name__)


def _peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Progress(Protocol):
    """``progress(step, done, total, detail)``: ``total`` None where unknown (a pull), ``detail``
    a short live note (the push's write calls while a chunk is in flight)."""

    def __call__(
        self, step: str, done: int, total: int | None, detail: str | None = None
    ) -> None: ...


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _step(name: str) -> Callable[[_Method], _Method]:
    """Mark a method as a step of the run: a failure inside it is reported as failing there."""

    def decorate(method: _Method) -> _Method:
        @functools.wraps(method)
        def run_step(self: SyncEngine, *args: Any, **kwargs: Any) -> Any:
            self.step = name
            return method(self, *args, **kwargs)

        return cast(_Method, run_step)

    return decorate


# Where a plan keeps what it pulled: a scratch SQLite file in a temporary folder of its own.
PLAN_OVERLAY_URL = "sqlite:///plan-overlay.sqlite"


# Beside each object's watermark the store keeps, under these names in the same table (values
# that never move back), when the object's ids were last reconciled against the CRM and the
# ``until`` of its last pull that ran to the end. The connector is told both (PullRequest), so
# a CRM where nothing changes is reconciled once a period, not on every run.
IDS_RECONCILED_KEY = "{}:ids_reconciled"
PULLED_UNTIL_KEY = "{}:pulled_until"


# Snapshot columns a stored record cannot lack; a deleted record without them is a tombstone.
_SNAPSHOT_REQUIRED = ("modified_at", "account_id")


def _id_only(record: dict[str, Any]) -> bool:
    return any(name in record and record[name] is None for name in _SNAPSHOT_REQUIRED)


# The objects a run pulls, in order (see ``read_store_beside_pull`` for the exception).
PULL_ORDER = ("account", "opportunity")


class RunInterrupted(KamSyncError):
    """The run was asked to stop (SIGTERM, Ctrl-C) and stopped after its current batch."""

    exit_code = ExitCode.INTERRUPTED


@dataclass(slots=True)
class RunOptions:
    mode: str = "run"  # run | plan
    full: bool = False  # ignore watermarks: pull everything
    progress: Progress | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    # Called with the recorded summary when the run ends, however it ends (alert hooks).
    on_finish: Callable[[RunSummary], None] | None = None
    # Called with what the assessment read (the in-scope accounts, a loader of the counted
    # opportunities, the governance history, as_of): `plan --rules` scores it again.
    on_assessed: (
        Callable[[pl.DataFrame, Callable[[], pl.DataFrame], GovernanceHistory, datetime], None]
        | None
    ) = None
    # A run lets the assessment's metrics and signals go once they are saved for `explain`,
    # and the rest once governance is recorded, before the push: the diff's and the push's
    # peaks came on top of them (a 50,000-account Salesforce first sync, 403 MiB instead of
    # 360 MiB). True keeps it whole in the outcome (the demo shows the top accounts).
    keep_assessment: bool = False


@dataclass(slots=True)
class RunOutcome:
    summary: RunSummary
    plan: WritePlan | None = None
    assessment: PortfolioAssessment | None = None


class _Preload:
    """Store tables the steps after the pull read, loaded in a thread of their own while the
    pull waits for the CRM (its rate limit, its answers), so a run's wall time is not the
    pull's plus theirs. Each is asked for once, by name; a loader's failure is raised there,
    in the step that needs it. Nothing a loader reads is changed by the pull."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="kam-sync preload")
        self._loads: dict[str, Future[Any]] = {}

    def start(self, name: str, loader: Callable[[], Any]) -> None:
        self._loads[name] = self._pool.submit(loader)

    def take(self, name: str, loader: Callable[[], Any]) -> Any:
        """What ``name`` loaded (``loader()`` now when it was not started)."""
        future = self._loads.pop(name, None)
        return loader() if future is None else future.result()

    def close(self) -> None:
        """Wait for the loads under way (they hold store connections) and forget the rest."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._loads.clear()


class SyncEngine:
    """Runs the steps in order for one project, one connector and one store."""

    def __init__(
        self,
        project: LoadedProject,
        connector: Connector,
        store: StateStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.project = project
        self.connector = connector
        self.store = store
        self.clock = clock
        self._step = "start"  # the step running now, named in the error if the run fails
        # Wall seconds by step of the run under way (None: no run): when the step began.
        self._step_seconds: dict[str, float] | None = None
        self._step_began = 0.0
        mapping = project.mapping
        self.account_crm_object = mapping.objects.account.crm_object
        self.targets = mapping.write_back
        self._normalizers = {
            "account": Normalizer("account", mapping.objects.account, mapping.write_back),
            "opportunity": Normalizer("opportunity", mapping.objects.opportunity),
        }
        self._overlay: StateStore | None = None
        # In a plan, the ids its pull saw deleted, by object (the overlay cannot hold them all).
        self._plan_deleted: dict[str, set[str]] = {}
        self._preload: _Preload | None = None
        # The governance history the assessment read, until governance is recorded.
        self._history: GovernanceHistory | None = None

    @property
    def step(self) -> str:
        return self._step

    @step.setter
    def step(self, name: str) -> None:
        # Log lines carry the step too (kam_sync.engine.run_context).
        self._time_step()
        self._step = name
        run_context.set_step(name)

    def _time_step(self) -> None:
        """Add the time since the current step began to its total (in a run)."""
        now = time.monotonic()
        if self._step_seconds is not None:
            spent = self._step_seconds.get(self._step, 0.0) + now - self._step_began
            self._step_seconds[self._step] = round(spent, 3)
        self._step_began = now

    # -- the run -------------------------------------------------------------------------------

    def run(self, options: RunOptions | None = None) -> RunOutcome:
        options = options or RunOptions()
        as_of = self.clock()
        # The caller holds the store's run lock, and every run begins under it: a run still
        # marked running is one whose process died (or lost the lock), never one in progress.
        if abandoned := self.store.abandon_unfinished_runs():
            log.warning(
                "%d earlier run(s) ended without finishing; this run continues their work",
                abandoned,
            )
        run_id = self.store.begin_run(as_of=as_of, mode=options.mode)
        summary = RunSummary(run_id=run_id, mode=options.mode, as_of=as_of, started_at=self.clock())
        run_context.begin_run(run_id)
        log.info(
            "%s #%d started",
            options.mode,
            run_id,
            extra={
                "fields": {"mode": options.mode, "full": options.full, "as_of": as_of.isoformat()}
            },
        )
        summary.max_quarantined_percent = self.project.config.sync.max_quarantined_percent
        outcome = RunOutcome(summary=summary)
        self._step_seconds = summary.step_seconds
        self._step_began = time.monotonic()
        # A plan keeps what it pulls in a scratch store, read over the real snapshot, and leaves
        # the store as it found it (DESIGN.md: `plan` changes nothing).
        scratch = (
            tempfile.TemporaryDirectory(prefix="kam-sync-plan-") if options.mode == "plan" else None
        )
        self._overlay = (
            open_store(PLAN_OVERLAY_URL, Path(scratch.name)) if scratch is not None else None
        )
        self.step = "preflight"
        try:
            # The mapping against the CRM's describe, as `validate` checks it: a mapping that
            # would fail or corrupt writes stops here (exit 2), before the pull and any write.
            preflight(self.project, self.connector)
            self.step = "start"
            self.connector.check_quota()
            _check_stop(options, "before pulling")
            self._preload = preload = _Preload()
            # What the pull does not change is read while it waits for the CRM: the small
            # tables always. The large ones (the opportunities, the written values) only where
            # the pull waits on the CRM's rate limit (the registry says which CRMs): beside
            # Salesforce's pull they raised a 50,000-account nightly run's peak by about 17 MiB
            # (387 to 404 MiB; bench/RESULTS.md) and saved little.
            beside = entry(self.project.config.crm.type).read_store_beside_pull
            preload.start("history", lambda: load_history(self.store))
            preload.start("pending", lambda: load_pending(self.store))
            preload.start("retries", lambda: retry_items(self.store))
            if beside:
                preload.start("written", lambda: load_written(self.store))
            # Then the opportunities are pulled first, and their table (the largest a run
            # reads) loads while the accounts are pulled.
            for object_name in ("opportunity", "account") if beside else PULL_ORDER:
                self._pull(object_name, as_of, summary, options)
                log.debug("pulled %s; peak memory %.0f MiB", object_name, _peak_rss_mib())
                if beside and object_name == "opportunity":
                    preload.start("opportunities", self._opportunities_in_scope)
            # A connector that converted amounts (a multi-currency Salesforce org) names the
            # currency they are now in.
            summary.currency = self.connector.amounts_currency()
            outcome.assessment = self._assess(as_of, summary, options)
            _check_stop(options, "after the assessment, before anything was written")
            # Kept for `kam-sync explain` before anything is written, while the run holds little.
            save_last_run(self.project.root, outcome.assessment, mode=options.mode)
            if options.mode == "run" and not options.keep_assessment:
                # The diff and governance read the assessments, the key list and the history:
                # the metrics and signals (in the file just saved, for `explain`) are let go
                # before the diff, whose peak came on top of them.
                outcome.assessment = replace(
                    outcome.assessment, metrics=outcome.assessment.metrics.clear(), signals=None
                )
            log.debug("assessed; peak memory %.0f MiB", _peak_rss_mib())
            outcome.plan = self._diff(outcome.assessment, as_of, summary)
            log.debug("diffed; peak memory %.0f MiB", _peak_rss_mib())
            if options.mode == "run":
                _check_stop(options, "after the diff, before anything was written")
                self._record_governance(outcome.assessment, as_of, summary)
                log.debug("recorded governance; peak memory %.0f MiB", _peak_rss_mib())
                self._history = None
                if not options.keep_assessment:
                    outcome.assessment = None
                self._push(outcome.plan, summary, options)
                log.debug("pushed; peak memory %.0f MiB", _peak_rss_mib())
            summary.status = "ok"
        except QuotaExhaustedError as exc:
            summary.status, summary.stopped_reason, summary.error = "partial", "quota", str(exc)
            log.warning("stopped at the API quota budget: %s", exc)
        except RunInterrupted as exc:
            summary.status, summary.stopped_reason, summary.error = (
                "interrupted",
                "interrupted",
                str(exc),
            )
            log.warning("%s", exc)
        except KeyboardInterrupt:
            # A second signal: stop at once, but say so in the ledger when it can still be said.
            summary.status, summary.stopped_reason = "interrupted", "interrupted"
            summary.error = "aborted by a second stop request"
            summary.forced_exit_code = 130
            self._finish(summary, options)
            raise
        except KamSyncError as exc:
            # Our own errors are built from names and ids: their text may be kept.
            summary.status, summary.error = "failed", f"{type(exc).__name__}: {exc}"
            summary.forced_exit_code = int(exc.exit_code)
            self._finish(summary, options)
            raise
        except Exception as exc:
            # Anything else may carry record values in its text (a database error holds the
            # statement's parameters): the ledger and the terminal get the step and the type,
            # the log the traceback without messages.
            failure = RunFailedError(self.step, exc)
            log_failure(exc, f"run step {self.step}")
            summary.status, summary.error = "failed", failure.summary
            self._finish(summary, options)
            raise failure from None
        finally:
            if self._preload is not None:
                self._preload.close()
                self._preload = None
            if self._overlay is not None:
                self._overlay.close()
                self._overlay = None
            self._plan_deleted = {}
            if scratch is not None:
                scratch.cleanup()
        self._finish(summary, options)
        return outcome

    def _snapshot(self, object_name: str, columns: tuple[str, ...]) -> pl.DataFrame:
        """The snapshot as a table; in a plan, overlaid with what the plan pulled."""
        return load_snapshot(
            self.store,
            object_name,
            columns=columns,
            overlay=self._overlay,
            gone=self._plan_deleted.get(object_name, ()),
        )

    def _preloaded(self, name: str, loader: Callable[[], Any]) -> Any:
        """What the preload read for ``name`` during the pull, else ``loader()`` now."""
        if self._preload is None:
            return loader()
        return self._preload.take(name, loader)

    @_step("record the run")
    def _finish(self, summary: RunSummary, options: RunOptions) -> None:
        quota = self.connector.quota()
        summary.api_calls = dict(quota.calls_by_kind)
        summary.quota_used, summary.quota_limit = quota.used, quota.limit
        summary.quota_source = quota.source
        summary.finished_at = self.clock()
        summary.peak_memory_mib = round(_peak_rss_mib())
        # The steps before this one were timed as it began; recording the run is not counted.
        self._step_seconds = None
        self.store.finish_run(
            summary.run_id,
            status=summary.status,
            counts=summary.counts(),
            api_calls=summary.api_calls,
            alerts=summary.alerts,
            error=summary.error,
            exit_code=summary.recorded_exit_code(),
        )
        if options.on_finish is not None:
            options.on_finish(summary)
            # Alert hooks may call the CRM (HubSpot's account details, for record links): the
            # ledger counts those calls too.
            after = self.connector.quota()
            if dict(after.calls_by_kind) != summary.api_calls:
                summary.api_calls = dict(after.calls_by_kind)
                summary.quota_used = after.used
                self.store.record_run_calls(summary.run_id, summary.api_calls)

    # -- pull, normalize, snapshot ---------------------------------------------------------------

    @_step("pull")
    def _pull(
        self, object_name: str, as_of: datetime, summary: RunSummary, options: RunOptions
    ) -> None:
        mapping: ObjectMapping = getattr(self.project.mapping.objects, object_name)
        fields = mapping.field_mappings()
        crm_fields = (
            self.project.mapping.account_crm_fields()
            if object_name == "account"
            else [m.crm for m in fields.values()]
        )
        stored_watermark = self.store.watermark(object_name)
        since = None if options.full else stored_watermark
        reconciled_key = IDS_RECONCILED_KEY.format(object_name)
        pulled_key = PULLED_UNTIL_KEY.format(object_name)
        # A first pull into an empty store leaves nothing stored that could have vanished: it
        # counts as a reconciliation, so the next runs do not list every id at once.
        fresh = since is None and stored_watermark is None and not self.store.live_ids(object_name)
        request = PullRequest(
            object_name=mapping.crm_object,
            fields=tuple(crm_fields),
            since=since,
            until=as_of,
            id_field=fields["id"].crm,
            modified_field=fields["modified_at"].crm,
            deleted_field=fields["is_deleted"].crm if "is_deleted" in fields else None,
            ids_reconciled_at=self.store.watermark(reconciled_key),
            previous_until=self.store.watermark(pulled_key),
        )
        normalizer = self._normalizers[object_name]
        pulled = deleted = quarantined = 0
        expected: int | None = None  # the records the CRM said the pull matches, if it said
        log.info(
            "pulling %s (%s) %s",
            object_name,
            mapping.crm_object,
            f"since {since.isoformat()}" if since else "in full",
        )
        # For naming merged-away accounts once: the ids live before this pull, read at the
        # first merge (live now, or taken out earlier in this pull, by a delete log's entry).
        merged_live: set[str] | None = None
        taken_out: set[str] = set()
        for page in self.connector.pull(request):
            if page.merged_into and object_name == "account":
                if merged_live is None:
                    merged_live = self.store.live_ids(object_name) | taken_out
                _log_merged_accounts(page.merged_into, merged_live)
            good: list[dict[str, Any]] = []
            bad: list[tuple[str, str, str | None, str]] = []
            gone: list[str] = []  # deleted records known by id alone (a delete log's entries)
            for raw in page.records:
                result = normalizer.normalize(raw)
                if isinstance(result, dict) and result["is_deleted"] and _id_only(result):
                    gone.append(result["id"])
                    deleted += 1
                elif isinstance(result, dict):
                    good.append(result)
                    deleted += bool(result["is_deleted"])
                else:
                    bad.append(
                        (object_name, result.record_id or "(no id)", result.field, result.reason)
                    )
            if self._overlay is not None:
                # A plan: the pulled records go to its scratch store; quarantine is counted only.
                self._overlay.upsert_snapshot(object_name, good)
                if page.existing_ids is not None:  # an id reconciliation: the rest vanished
                    vanished = self.store.live_ids(object_name) - page.existing_ids
                    gone.extend(sorted(vanished))
                    deleted += len(vanished)
                plan_gone = self._plan_deleted.setdefault(object_name, set())
                for record in good:
                    if record["is_deleted"]:
                        plan_gone.add(record["id"])
                    else:
                        plan_gone.discard(record["id"])
                plan_gone.update(gone)
            else:
                with self.store.transaction() as conn:
                    self.store.upsert_snapshot(object_name, good, conn=conn)
                    if page.existing_ids is not None:  # an id reconciliation: the rest vanished
                        vanished = self.store.live_ids(object_name, conn=conn) - page.existing_ids
                        gone.extend(sorted(vanished))
                        deleted += len(vanished)
                        self.store.set_watermark(reconciled_key, as_of, conn=conn)
                        log.info(
                            "id reconciliation: %d stored %s records no longer exist in the CRM",
                            len(vanished),
                            object_name,
                        )
                    self.store.mark_deleted(object_name, gone, conn=conn)
                    self.store.quarantine(bad, run_id=summary.run_id, conn=conn)
                    self.store.release_quarantine(object_name, [r["id"] for r in good], conn=conn)
                    if page.high_watermark is not None:
                        self.store.set_watermark(
                            object_name, min(page.high_watermark, as_of), conn=conn
                        )
            if object_name == "account" and merged_live is None:
                taken_out.update(gone)
                taken_out.update(r["id"] for r in good if r["is_deleted"])
            pulled += len(page.records)
            quarantined += len(bad)
            if page.expected_total is not None:
                expected = page.expected_total
            if options.progress:
                total = max(expected, pulled) if expected is not None else None
                options.progress(f"pull {object_name}", pulled, total)
            if options.stop.is_set():
                raise RunInterrupted(f"stopped after storing {pulled} pulled {object_name} records")
        if self._overlay is None:
            with self.store.transaction() as conn:
                self.store.set_watermark(pulled_key, as_of, conn=conn)
                if fresh:
                    self.store.set_watermark(reconciled_key, as_of, conn=conn)
        summary.pulled[object_name] = pulled
        summary.deleted[object_name] = deleted
        summary.quarantined[object_name] = quarantined
        if quarantined:
            log.warning(
                "%d %s records quarantined (see `kam-sync status`)", quarantined, object_name
            )

    # -- aggregate, score, govern, assess ----------------------------------------------------------

    @_step("assess")
    def _assess(
        self, as_of: datetime, summary: RunSummary, options: RunOptions
    ) -> PortfolioAssessment:
        # The engine reads the inputs only; the current KAM values are loaded for the diff.
        pack = self.project.rules
        accounts = self._snapshot("account", ACCOUNT_INPUT_COLUMNS)
        record_filter = self.project.mapping.objects.account.filter
        if record_filter:
            accounts = filter_records(
                accounts,
                record_filter,
                source=self.project.files["mapping"],
                where=("objects", "account", "filter"),
                scope="applying the account record filter",
            )
        if options.progress:
            options.progress("assess", 0, accounts.height)
        # The largest table of a run is read for the metrics only, and let go before the rest
        # of the assessment builds its own tables.
        opportunities = self._preloaded("opportunities", self._opportunities_in_scope)
        metrics = compute_metrics(
            accounts, opportunities, as_of, roll_up=pack.scoring.hierarchy.roll_up
        )
        del opportunities
        history = self._preloaded("history", lambda: load_history(self.store))
        result = assess_portfolio(accounts, None, history, pack, as_of, metrics=metrics)
        if options.on_assessed is not None:
            options.on_assessed(accounts, self._opportunities_in_scope, history, as_of)
        self._history = history
        a = result.assessments
        summary.in_scope = accounts.height
        summary.scored = a.height
        summary.tiers = dict(sorted(a.group_by("tier").len().iter_rows())) if a.height else {}
        key_tiers = tuple(self.project.rules.governance.key_tiers)
        summary.key_accounts = int(a.filter(pl.col("tier").is_in(list(key_tiers))).height)
        governance = self.project.rules.governance
        summary.key_cap = cap_size(self.project.rules, a.height)
        summary.cap_mode = governance.cap.mode if governance.cap is not None else None
        summary.over_cap = (
            int(a.filter(pl.col("flags").list.contains("over_cap")).height) if a.height else 0
        )
        summary.tier_changes = int(
            a.filter(~pl.col("tier").eq_missing(pl.col("previous_tier"))).height
        )
        summary.alerts = [
            {"kind": alert.kind, "message": alert.message, "accounts": list(alert.account_ids)}
            for alert in result.alerts
        ]
        for alert in result.alerts:
            log.warning("alert %s: %s", alert.kind, alert.message)
        if options.progress:
            options.progress("assess", a.height, a.height)
        return result

    def _opportunities_in_scope(self) -> pl.DataFrame:
        """The opportunity columns the metrics read, of the records the mapping's filter keeps."""
        record_filter = self.project.mapping.objects.opportunity.filter
        if not record_filter:
            return self._snapshot("opportunity", ENGINE_OPPORTUNITY_COLUMNS)
        condition = compile_condition(record_filter, FILTER_SCHEMAS["opportunity"])
        used = set(condition.meta.root_names())
        columns = ENGINE_OPPORTUNITY_COLUMNS + tuple(sorted(used - set(ENGINE_OPPORTUNITY_COLUMNS)))
        return filter_records(
            self._snapshot("opportunity", columns),
            record_filter,
            source=self.project.files["mapping"],
            where=("objects", "opportunity", "filter"),
            scope="applying the opportunity record filter",
        ).select(ENGINE_OPPORTUNITY_COLUMNS)

    # -- diff ------------------------------------------------------------------------------------

    @_step("diff")
    def _diff(self, result: PortfolioAssessment, as_of: datetime, summary: RunSummary) -> WritePlan:
        accounts = self._snapshot("account", ("id", "name", *KAM_OUTPUT_FIELDS))
        sync = self.project.config.sync
        plan = plan_writes(
            result.assessments,
            accounts,
            self._preloaded("written", lambda: load_written(self.store)),
            self.targets,
            as_of=as_of,
            overwrite_manual_default=sync.overwrite_manual_edits,
            pending=self._preloaded("pending", lambda: load_pending(self.store)),
            out_of_scope=sync.out_of_scope,
        )
        queue: list[RetryItem] = self._preloaded("retries", lambda: retry_items(self.store))
        # A queued write the plan no longer makes (the CRM holds the value, it is protected, or
        # the account left scope) has nothing left to retry.
        plan.settled_retries = [
            (item.account_id, item.field)
            for item in queue
            if item.field not in plan.updates.get(item.account_id, {})
        ]
        summary.dead_letters = self._drop_dead_letters(plan, queue)
        summary.changes_by_field = plan.changes_by_field()
        summary.accounts_to_write = len(plan.updates)
        summary.protected = len(plan.protected)
        summary.out_of_scope = len(plan.out_of_scope)
        summary.adopted = sum(len(v) for v in plan.adopted.values())
        return plan

    def _drop_dead_letters(self, plan: WritePlan, queue: list[RetryItem]) -> int:
        """A dead letter is not tried again until the value it should write changes."""
        dead = 0
        for item in queue:
            if not item.dead:
                continue
            values = plan.updates.get(item.account_id)
            if values is None or item.field not in values:
                continue
            if _same(values[item.field], item.value):
                del values[item.field]
                dead += 1
                if set(values) <= {"kam_last_assessed"}:
                    del plan.updates[item.account_id]
        return dead

    # -- record governance, push -------------------------------------------------------------------

    @_step("record governance")
    def _record_governance(
        self, result: PortfolioAssessment, as_of: datetime, summary: RunSummary
    ) -> None:
        previous = self._history
        if previous is None:  # the assessment keeps what it read; read again only without it
            previous = self._preloaded("history", lambda: load_history(self.store))
        with self.store.transaction() as conn:
            save_history(
                conn,
                self.store,
                run_id=summary.run_id,
                as_of=as_of,
                result=result,
                previous=previous,
                key_tiers=tuple(self.project.rules.governance.key_tiers),
                score_history_days=self.project.config.report.score_history_days,
            )

    def _reconcile(self, plan: WritePlan, summary: RunSummary) -> None:
        """Before the first push: record the CRM values recognised as ours (adopted), end the
        retry entries with nothing left to retry, and forget accounts gone from the CRM."""
        adopted = [(a, name) for a, values in plan.adopted.items() for name in values]
        settled = plan.settled_retries
        if not (adopted or settled or plan.forgotten):
            return
        with self.store.transaction() as conn:
            record_written(conn, self.store, plan.adopted, run_id=summary.run_id)
            clear_pending(conn, plan.adopted)
            clear_retries(conn, [*adopted, *settled])
            forget_accounts(conn, plan.forgotten)
        if adopted:
            log.info(
                "recognised %d value(s) in the CRM as kam-sync's own writes (recorded as written)",
                len(adopted),
            )

    @_step("push")
    def _push(self, plan: WritePlan, summary: RunSummary, options: RunOptions) -> None:
        self._reconcile(plan, summary)
        crm_object = self.account_crm_object
        self.connector.set_write_back_targets(crm_object, [t.crm for t in self.targets.values()])
        account_ids = list(plan.updates)
        total = len(account_ids)
        retry_limit = self.project.config.sync.retry_limit
        chunk_size = (
            self.project.config.sync.write_chunk_size
            or entry(self.project.config.crm.type).write_chunk_size
        )
        for start in range(0, total, chunk_size):
            chunk = account_ids[start : start + chunk_size]
            updates = [
                RecordUpdate(
                    record_id=account_id,
                    values={
                        self.targets[name].crm: to_crm(self.targets[name], value)
                        for name, value in plan.updates[account_id].items()
                    },
                )
                for account_id in chunk
            ]
            # Write-ahead, committed before anything is sent: if the run dies after the CRM
            # applied the chunk (or the reply is lost), the next run knows these values as ours.
            with self.store.transaction() as conn:
                record_pending(
                    conn,
                    self.store,
                    {a: plan.updates[a] for a in chunk},
                    run_id=summary.run_id,
                )
            stopped: PushStoppedError | None = None
            try:
                results = self.connector.push(
                    crm_object,
                    updates,
                    should_stop=self._push_ticker(options, start, len(chunk), total),
                )
            except PushStoppedError as exc:
                # Record what this push did write before stopping, or the next run would take
                # our own writes for a person's edits.
                results, stopped = exc.results, exc
            if len(results) != len(updates):
                raise KamSyncError(
                    f"the connector returned {len(results)} results for {len(updates)} updates"
                )
            del updates  # the CRM-ready copies: what is recorded next reuses their memory
            succeeded: dict[str, dict[str, Any]] = {}
            failures: list[tuple[str, str, Any, str | None, str | None]] = []
            for account_id, outcome in zip(chunk, results, strict=True):
                values = plan.updates[account_id]
                if outcome.ok:
                    succeeded[account_id] = values
                elif outcome.error_code == NOT_SENT:
                    continue  # never sent: the next run's diff brings it back, no attempt used
                else:
                    failures += [
                        (account_id, name, value, outcome.error_code, outcome.message)
                        for name, value in values.items()
                    ]
            with self.store.transaction() as conn:
                record_written(conn, self.store, succeeded, run_id=summary.run_id)
                clear_pending(conn, succeeded)
                clear_retries(conn, ((a, n) for a, values in succeeded.items() for n in values))
                record_failures(
                    conn, self.store, failures, run_id=summary.run_id, retry_limit=retry_limit
                )
            summary.accounts_written += len(succeeded)
            summary.fields_written += sum(len(v) for v in succeeded.values())
            summary.write_failures += len({f[0] for f in failures})
            if stopped is not None:
                if stopped.cause is not None:
                    raise stopped.cause
                raise RunInterrupted(
                    f"stopped after writing {summary.accounts_written} of {total} accounts"
                )
            if options.progress:
                options.progress("push", min(start + len(chunk), total), total)
            if options.stop.is_set() and start + len(chunk) < total:
                raise RunInterrupted(
                    f"stopped after writing {start + len(chunk)} of {total} accounts"
                )

    def _push_ticker(
        self, options: RunOptions, start: int, size: int, total: int
    ) -> Callable[[], bool]:
        """The push's ``should_stop``, asked between batches: also shows live progress while a
        chunk is in flight, the write calls made so far and the accounts they wrote, estimated
        from the calls the CRM's registry entry says the chunk costs (exact again when the
        chunk's results are in)."""
        progress = options.progress
        if progress is None:
            return options.stop.is_set
        config = self.project.config
        crm = entry(config.crm.type)
        expected = sum(crm.estimate_write_calls(config.connector_settings(), size).values())
        before = self._write_calls()

        def should_stop() -> bool:
            calls = self._write_calls()
            sent = min(size, size * (calls - before) // expected) if expected else 0
            detail = f"{calls} write call{'s' if calls != 1 else ''}"
            progress("push", start + sent, total, detail=detail)
            return options.stop.is_set()

        return should_stop

    def _write_calls(self) -> int:
        return sum(n for kind, n in self.connector.quota().calls_by_kind.items() if "write" in kind)


def _log_merged_accounts(merged_into: dict[str, str], live: set[str]) -> None:
    """Say, once per account (while it is still in scope), that a merge took it away and that
    its KAM history stays with it: the store keeps history by account id, and nothing moves it
    to the surviving account, which is assessed on its own history and the opportunities it
    now holds."""
    for loser, survivor in sorted(merged_into.items()):
        if loser in live:
            live.discard(loser)
            log.warning(
                "account %s was merged into account %s in the CRM: %s leaves scope and gets no "
                "more writes; its KAM history (tier history, key-account list membership) stays "
                "under its own id and is not moved to %s",
                loser,
                survivor,
                loser,
                survivor,
            )


def _check_stop(options: RunOptions, where: str) -> None:
    if options.stop.is_set():
        raise RunInterrupted(f"stopped {where}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) < 1e-9
        except (TypeError, ValueError):
            return False
    return bool(a == b)
