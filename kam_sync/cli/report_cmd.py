"""`kam-sync report`: the portfolio and the runs as one self-contained HTML file."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from kam_sync.errors import ExitCode, KamSyncError

if TYPE_CHECKING:
    from kam_sync.config.loader import LoadedProject
    from kam_sync.store import StateStore

log = logging.getLogger(__name__)

DEFAULT_OUTPUT = "kam-sync-report.html"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report",
        help="write an HTML report of the portfolio and the runs (one file, viewable offline)",
        description="Writes one self-contained HTML file (scripts and styles inlined): tier "
        "distribution, scores with the tier thresholds, key-list size against the cap with "
        "growth alerts, plan stages, checklist completion and gaps, team-role coverage, top "
        "movers, run history, retry queue and dead letters. Set report.after_run in "
        "kam-sync.yaml to write it after every run.",
    )
    report.add_argument(
        "--output",
        metavar="FILE",
        help=f"the HTML file to write (default: {DEFAULT_OUTPUT} in the project folder)",
    )
    report.add_argument(
        "--runs",
        type=_positive,
        metavar="N",
        help="runs shown in the run history and key-list chart (default: report.runs, 30)",
    )
    report.set_defaults(handler=cmd_report)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def cmd_report(args: argparse.Namespace) -> int:
    from kam_sync.config.loader import load_project
    from kam_sync.engine.html_report import write_report
    from kam_sync.store import open_store

    project = load_project(Path(args.project))
    output = Path(args.output) if args.output else project.root / DEFAULT_OUTPUT
    store = open_store(project.config.store.url, project.root)
    try:
        path = write_report(project, store, output, runs=args.runs)
    finally:
        store.close()
    print(f"report written to {path}")
    return ExitCode.OK


def write_after_run(project: LoadedProject, store: StateStore) -> None:
    """``report.after_run``: write the report after a run, however it ended.

    A report that cannot be written is logged, never a reason to change the run's exit code.
    """
    target = project.config.report.after_run
    if not target:
        return
    # Imported here: a run without report.after_run never loads the report's charting.
    from kam_sync.engine.html_report import write_report

    path = Path(target)
    if not path.is_absolute():
        path = project.root / path
    try:
        write_report(project, store, path)
    except KamSyncError as exc:  # our own text: names and paths only
        log.warning("could not write the report: %s", exc)
    except Exception as exc:  # the run is recorded already; its outcome stands
        log.warning("could not write the report to %s: %s", path, type(exc).__name__)
    else:
        log.info("report written to %s", path)
