"""`kam-sync schedule`: run the sync on the project's cron schedule, until stopped.

APScheduler keeps the job in the project's state store, so a restart keeps the schedule and
knows a run was missed; a missed run is coalesced into one and still runs within the grace
time; runs never overlap (within one scheduler, and across every process sharing the state store:
each run takes the store's run lock). SIGTERM (or Ctrl-C) lets the current run finish its batch,
records it as interrupted, and exits 0: stopping the service is not a failure of the service.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from kam_sync.errors import ExitCode, KamSyncError

log = logging.getLogger(__name__)
JOB_ID = "kam-sync-nightly"
# How often the waiting scheduler looks whether a stop signal came.
STOP_POLL_SECONDS = 0.2
_stop = threading.Event()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schedule = sub.add_parser(
        "schedule",
        help="run the sync on the project's cron schedule (long-running; SIGTERM stops cleanly)",
    )
    schedule.set_defaults(handler=cmd_schedule)


def scheduled_run(project_dir: str) -> None:
    """The scheduled job (referenced by name in the job store, so it survives restarts)."""
    from kam_sync.cli.sync_cmds import execute, format_summary
    from kam_sync.config.loader import load_project

    try:
        project = load_project(Path(project_dir))
        outcome = execute(project, "run", quiet=True, stop=_stop)
    except KamSyncError as exc:
        log.error("scheduled run failed: %s", exc)
        return
    log.info(
        "scheduled run finished (exit code %d)\n%s",
        int(outcome.summary.exit_code()),
        format_summary(outcome.summary),
    )


def cmd_schedule(args: argparse.Namespace) -> int:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    from kam_sync.config.loader import load_project
    from kam_sync.store import open_store

    project = load_project(Path(args.project))
    sched_cfg = project.config.schedule
    # The jobs live in the project's state store (created and migrated here if new).
    store = open_store(project.config.store.url, project.root)
    scheduler = BackgroundScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(engine=store.engine, tablename="apscheduler_jobs")
        },
        job_defaults={
            "coalesce": True,  # several missed runs become one
            "max_instances": 1,  # never two runs at once
            "misfire_grace_time": sched_cfg.misfire_grace_minutes * 60,
        },
        timezone=sched_cfg.timezone,
    )
    trigger = CronTrigger.from_crontab(sched_cfg.cron, timezone=sched_cfg.timezone)
    # Start paused to look at the stored job first: an unchanged schedule keeps its stored next
    # run time, so a run missed while kam-sync was down still happens (once) on restart.
    scheduler.start(paused=True)
    job = scheduler.get_job(JOB_ID)
    if job is None or repr(job.trigger) != repr(trigger) or job.args != (str(project.root),):
        scheduler.add_job(
            scheduled_run,
            trigger=trigger,
            args=[str(project.root)],
            id=JOB_ID,
            name="kam-sync nightly sync",
            replace_existing=True,
        )
        job = scheduler.get_job(JOB_ID)
    else:
        # Same schedule: keep the stored next run time, take the current grace time.
        job = scheduler.modify_job(
            JOB_ID,
            misfire_grace_time=sched_cfg.misfire_grace_minutes * 60,
            coalesce=True,
            max_instances=1,
        )
    # The signals received. Not an Event the main thread waits on: a handler runs in the main
    # thread, and Event.set() there deadlocks when the signal lands while that thread holds the
    # Event's own lock inside Event.wait() (seen as a scheduler that never stopped on SIGTERM).
    received: list[int] = []

    def _terminate(signum: int, _frame: FrameType | None) -> None:
        log.warning("received signal %d: finishing the current batch, then stopping", signum)
        _stop.set()  # waited on by no lock the main thread holds
        received.append(signum)

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    next_run = getattr(job, "next_run_time", None)
    print(
        f"kam-sync schedule: '{sched_cfg.cron}' in {sched_cfg.timezone}; next run at {next_run}",
        flush=True,
    )
    scheduler.resume()
    while not received:
        time.sleep(STOP_POLL_SECONDS)  # sleeping holds no lock a signal handler needs
    scheduler.shutdown(wait=True)  # lets a run in progress record itself as interrupted
    store.close()
    print("kam-sync schedule: stopped", flush=True)
    return ExitCode.OK
