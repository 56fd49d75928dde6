"""A run killed at any point, or whose write replies are lost, leaves nothing wrong behind.

Each case, for both CRMs, against the sandbox CRM over HTTP:

1. a first run writes every account;
2. the rules change (a factor weight), so the next run rewrites every account's score, in
   several chunks;
3. that run is killed at one point of the pull, the assessment or the push (a ``Killed``
   BaseException raised from inside: no ``except Exception`` handler runs and no summary is
   stored, as with SIGKILL; its open transaction rolls back) or its write replies are lost
   (the sandbox applies the writes and closes the connection without answering);
4. a run; then the data changes in the CRM (won deals, a changed input field); then a run.

After it: no account is flagged ``manual_override``, no value is protected, the retry queue is
empty, and the CRM's KAM fields are what an undisturbed twin (same seed, same changes, no kill)
leaves. The SIGKILL of a real process is tested in test_sync.py.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kam_sync.cli.provision_cmd import provision
from kam_sync.cli.sync_cmds import execute
from kam_sync.config.loader import load_project
from kam_sync.engine import pipeline
from kam_sync.engine.summary import RunSummary
from kam_sync.sandbox.runner import SandboxHandle
from kam_sync.store.store import StateStore
from kam_sync_connectors.hubspot.connector import HubSpotConnector
from kam_sync_connectors.salesforce.connector import SalesforceConnector
from tests.e2e.crm import ACCOUNT_OBJECT, DEAL_OBJECT, KAM_FIELDS, CrmHands, sandbox_project

CRMS = ["salesforce", "hubspot"]
ACCOUNTS = 150  # more than one write chunk (100, the smallest allowed) when every score changes
SEED = 11
FLAGS_FIELD = {"salesforce": "KAM_Flags__c", "hubspot": "kam_flags"}
OVERRIDE = {"salesforce": "Manual Override", "hubspot": "manual_override"}
# Small batches and no waits between retries keep the matrix fast; more requests per chunk.
CRM_SETTINGS = {
    "salesforce": "    write_batch_size: 40\n    retry_max_attempts: 2\n"
    "    retry_initial_wait_seconds: 0\n",
    "hubspot": "    write_batch_size: 40\n    retry_max_attempts: 2\n    retry_initial_wait_seconds: 0\n",
}


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so the run records nothing on its way out."""


@dataclass(frozen=True)
class KillPoint:
    name: str
    install: Callable[[pytest.MonkeyPatch], None]
    faults: str | None = None  # sandbox faults during the disturbed run instead of a kill


def _kill_at(
    owner: Any,
    attribute: str,
    *,
    call: int = 1,
    after: bool = False,
    when: Callable[..., bool] = lambda *a, **k: True,
) -> Callable[[pytest.MonkeyPatch], None]:
    """Kill the run at the ``call``-th matching call of ``owner.attribute``: before it runs, or
    ``after`` it returned (its effect done, the caller never told)."""

    def install(monkeypatch: pytest.MonkeyPatch) -> None:
        real = getattr(owner, attribute)
        seen = 0

        def killer(*args: Any, **kwargs: Any) -> Any:
            nonlocal seen
            if when(*args, **kwargs):
                seen += 1
                if seen == call:
                    if after:
                        real(*args, **kwargs)
                    raise Killed(f"{attribute} #{call}")
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, attribute, killer)

    return install


def _snapshot_of(object_name: str) -> Callable[..., bool]:
    return lambda _store, name, *a, **k: name == object_name


def _crm_push(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CRM applies the first chunk and answers; the run dies before storing the answer."""
    for connector in (SalesforceConnector, HubSpotConnector):
        _kill_at(connector, "push", after=True)(monkeypatch)


def _nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    return None


KILL_POINTS = [
    # pull
    KillPoint(
        "pull-first-account-page",
        _kill_at(StateStore, "upsert_snapshot", when=_snapshot_of("account")),
    ),
    KillPoint(
        "pull-first-opportunity-page",
        _kill_at(StateStore, "upsert_snapshot", when=_snapshot_of("opportunity")),
    ),
    KillPoint(
        "pull-after-opportunity-watermark",
        _kill_at(
            StateStore,
            "set_watermark",
            after=True,
            when=lambda _s, name, *a, **k: name == "opportunity",
        ),
    ),
    # assess
    KillPoint("assess-metrics", _kill_at(pipeline, "compute_metrics")),
    KillPoint("assess-portfolio", _kill_at(pipeline, "assess_portfolio", after=True)),
    KillPoint("assess-diff", _kill_at(pipeline, "plan_writes", after=True)),
    KillPoint("assess-governance-history", _kill_at(pipeline, "save_history", after=True)),
    # push
    KillPoint("push-before-first-write-ahead", _kill_at(pipeline, "record_pending")),
    KillPoint("push-crm-answered-first-chunk", _crm_push),
    KillPoint("push-recording-first-chunk", _kill_at(pipeline, "record_written")),
    KillPoint("push-before-second-write-ahead", _kill_at(pipeline, "record_pending", call=2)),
    KillPoint("push-recording-second-chunk", _kill_at(pipeline, "record_written", call=2)),
    # replies lost while the CRM applies the writes (a time-out on the client's side)
    KillPoint("replies-of-every-write-lost", _nothing, faults="write:lost=1"),
    KillPoint("replies-of-some-writes-lost", _nothing, faults="write:lost=0.75"),
]


@contextmanager
def _project(
    crm: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SandboxHandle, Path]]:
    with sandbox_project(crm, root, accounts=ACCOUNTS, seed=SEED) as (handle, env):
        for key, value in env.items():
            if key.startswith("KAM_SYNC_"):
                monkeypatch.setenv(key, value)
        config = root / "kam-sync.yaml"
        text = config.read_text()
        text = text.replace(f"  {crm}:\n", f"  {crm}:\n{CRM_SETTINGS[crm]}", 1)
        text = text.replace("\nsync:\n", "\nsync:\n  write_chunk_size: 100\n", 1)
        config.write_text(text)
        assert provision(load_project(root)) == 0
        yield handle, root


def _run(root: Path) -> RunSummary:
    summary = execute(load_project(root), "run", quiet=True).summary
    assert summary.status == "ok", summary.error
    return summary


def _change_rules(root: Path) -> None:
    """A factor weight changes: every account's score is rewritten."""
    scoring = root / "rules" / "scoring.yaml"
    text = scoring.read_text()
    assert "    weight: 25\n" in text
    scoring.write_text(text.replace("    weight: 25\n", "    weight: 35\n", 1))


def _change_data(crm: str, handle: SandboxHandle, root: Path) -> None:
    """Open deals of accounts across the portfolio (so of every write chunk) are won, big; the
    last account's revenue grows."""
    hands = CrmHands.connect(crm, handle)
    with sqlite3.connect(root / "state" / "kam-sync.sqlite") as db:
        open_deals = [
            r[0]
            for r in db.execute(
                "SELECT o.id FROM opportunity_snapshot o JOIN account_snapshot a "
                "ON a.id = o.account_id WHERE o.is_closed = 0 AND o.is_deleted = 0 "
                "AND a.is_deleted = 0 ORDER BY o.account_id, o.id"
            )
        ]
        grown = db.execute(
            "SELECT id FROM account_snapshot WHERE is_deleted = 0 ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
    assert len(open_deals) >= 8
    step = len(open_deals) // 4
    for deal in open_deals[::step][:4]:
        hands.update(
            DEAL_OBJECT[crm],
            deal,
            {"StageName": "Closed Won", "Amount": 4_000_000, "CloseDate": time.strftime("%Y-%m-%d")}
            if crm == "salesforce"
            else {
                "dealstage": "closedwon",
                "amount": "4000000",
                "closedate": time.strftime("%Y-%m-%dT00:00:00Z"),
            },
        )
    revenue = {"salesforce": "AnnualRevenue", "hubspot": "annualrevenue"}[crm]
    hands.update(ACCOUNT_OBJECT[crm], grown, {revenue: 900_000_000})
    _settle(crm, handle)


def _settle(crm: str, handle: SandboxHandle) -> None:
    """HubSpot's search shows a write "a few moments" later (the sandbox emulates it): a run
    started sooner reads the change only on the next run, through its look-back. These tests are
    about kills, not that lag, so the next run starts once the writes are indexed (otherwise a
    run started at once may pull no account at all, and a kill point in the pull never fires)."""
    if crm == "hubspot":
        time.sleep(handle.app.store.search_lag_seconds + 0.1)


def _kam_state(crm: str, handle: SandboxHandle) -> dict[str, dict[str, Any]]:
    return CrmHands.connect(crm, handle).kam_values()


_TWINS: dict[str, dict[str, dict[str, Any]]] = {}


def _twin(crm: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """The CRM's KAM fields after the same story with nothing disturbed."""
    if crm not in _TWINS:
        with _project(crm, root, monkeypatch) as (handle, project):
            _run(project)
            _change_rules(project)
            _settle(crm, handle)
            _run(project)
            _run(project)
            _change_data(crm, handle, project)
            _run(project)
            _TWINS[crm] = _kam_state(crm, handle)
    return _TWINS[crm]


def _retry_entries(root: Path) -> int:
    with sqlite3.connect(root / "state" / "kam-sync.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM retry_queue").fetchone()[0])


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
@pytest.mark.parametrize("kill", KILL_POINTS, ids=[k.name for k in KILL_POINTS])
def test_a_killed_or_unanswered_run_leaves_nothing_wrong_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crm: str, kill: KillPoint
) -> None:
    expected = _twin(crm, tmp_path / "twin", monkeypatch)
    with _project(crm, tmp_path / "disturbed", monkeypatch) as (handle, project):
        _run(project)
        _change_rules(project)
        _settle(crm, handle)

        if kill.faults is not None:
            handle.set_faults(kill.faults)
            disturbed = execute(load_project(project), "run", quiet=True).summary
            handle.set_faults(None)
            assert handle.stats()["faults"].get("lost", 0) > 0
            if kill.faults == "write:lost=1":
                assert disturbed.write_failures > 0, "the lost replies were taken for failures"
        else:
            with monkeypatch.context() as patch:
                kill.install(patch)
                with pytest.raises(Killed):
                    execute(load_project(project), "run", quiet=True)

        recovery = _run(project)
        assert recovery.protected == 0
        _change_data(crm, handle, project)
        final = _run(project)

        assert final.protected == 0
        assert final.write_failures == 0
        assert _retry_entries(project) == 0, "no retry entry is left"
        state = _kam_state(crm, handle)
        flagged = [a for a, v in state.items() if OVERRIDE[crm] in (v[FLAGS_FIELD[crm]] or "")]
        assert flagged == []
        assert set(KAM_FIELDS[crm]) <= set(next(iter(state.values())))
        assert state == expected
