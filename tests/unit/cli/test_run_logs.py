"""Logs for machines and people: JSON lines with UTC time, level, run id, step, message and
fields; text lines in UTC; a start and an end line for every run with its outcome and exit code;
log lines printed above the progress bars, never through them; `run --json` says why a run
failed."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kam_sync.cli.logs import configure_logging
from kam_sync.cli.main import main
from kam_sync.cli.progress import StepProgress
from kam_sync.engine import run_context
from kam_sync.store.store import StateStore
from tests.conftest import init_project
from tests.e2e.crm import sandbox_project

UTC_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    run_context.clear()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_json_lines_carry_utc_time_level_run_id_step_message_and_fields(tmp_path: Path) -> None:
    log_file = tmp_path / "run.log"
    configure_logging(0, str(log_file), "json")
    run_context.begin_run(42)
    run_context.set_step("pull")
    logging.getLogger("kam_sync.engine.pipeline").info(
        "pulled %d records", 7, extra={"fields": {"object": "account", "pulled": 7}}
    )

    [line] = _lines(log_file)

    assert UTC_MILLIS.match(line["time"]), line["time"]
    assert line | {"time": None} == {
        "time": None,
        "level": "INFO",
        "run_id": 42,
        "step": "pull",
        "logger": "kam_sync.engine.pipeline",
        "message": "pulled 7 records",
        "fields": {"object": "account", "pulled": 7},
    }


def test_text_lines_are_in_utc_and_name_the_run_and_step(tmp_path: Path) -> None:
    log_file = tmp_path / "run.log"
    configure_logging(0, str(log_file), "text")
    run_context.begin_run(42)
    run_context.set_step("push")
    logging.getLogger("kam_sync.x").warning("slow", extra={"fields": {"calls": 3}})

    text = log_file.read_text(encoding="utf-8").strip()

    time, rest = text.split(" ", 1)
    assert UTC_MILLIS.match(time), time
    assert rest == "WARNING [run 42 push] kam_sync.x: slow calls=3"


def test_secrets_are_masked_in_json_messages_and_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAM_SYNC_HUBSPOT_TOKEN", "pat-na1-secret-value")
    log_file = tmp_path / "run.log"
    configure_logging(0, str(log_file), "json")
    logging.getLogger("kam_sync").info(
        "token pat-na1-secret-value", extra={"fields": {"t": "pat-na1-secret-value"}}
    )
    assert "pat-na1-secret-value" not in log_file.read_text(encoding="utf-8")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_line_is_printed_above_the_progress_bar_not_through_it() -> None:
    terminal = _Terminal()
    configure_logging(0, None, "text")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(terminal)
    progress = StepProgress(stream=terminal)
    try:
        progress("assess", 10, 100)
        logging.getLogger("kam_sync.x").warning("a log line")
        progress("assess", 50, 100)
    finally:
        progress.close()

    segments = re.split(r"[\r\n]", terminal.getvalue())
    # The line stands alone: tqdm.write cleared the bar before it and drew it again after.
    [line] = [s for s in segments if "a log line" in s]
    assert line.endswith("WARNING kam_sync.x: a log line")
    assert "assess" not in line and "%" not in line
    after = terminal.getvalue().split("a log line", 1)[1]
    assert "assess:  10%" in after or "assess:  50%" in after, "the bar is drawn again below"


def test_progress_bars_show_totals_and_a_live_detail() -> None:
    terminal = _Terminal()
    progress = StepProgress(stream=terminal)
    try:
        progress("push", 0, 5000, detail="12 write calls")
    finally:
        progress.close()
    assert "0/5000" in terminal.getvalue()
    assert "12 write calls" in terminal.getvalue()


def test_a_run_refused_for_its_config_logs_an_end_line_and_run_json_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = init_project(tmp_path / "p")
    (project / "mappings" / "salesforce.yaml").unlink()
    log_file = tmp_path / "run.log"

    args = ["--json", "--project", str(project), "--log-file", str(log_file)]
    code = main(["run", *args, "--log-format", "json"])

    assert code == 2
    document = json.loads(capsys.readouterr().out)
    assert document["exit_code"] == 2 and document["status"] == "failed"
    assert document["headline"] == "configuration error"
    assert document["error"]["issues"][0]["message"].endswith("file not found")
    [end] = _lines(log_file)
    assert end["message"] == "run (not started) ended: configuration error (1 problem), exit code 2"
    assert end["fields"]["exit_code"] == 2
    assert end["level"] == "ERROR"


RECORD_VALUE = "Acme renewal 2027"  # what a foreign error's text could hold


def _failing_upsert(*_args: Any, **_kwargs: Any) -> int:
    raise RuntimeError(RECORD_VALUE)


@pytest.mark.slow
def test_a_run_logs_a_start_and_an_end_line_and_every_line_its_run_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    log_file = tmp_path / "run.jsonl"
    failed_log = tmp_path / "failed.jsonl"
    with sandbox_project("hubspot", project, accounts=5) as (_handle, env):
        for name, value in env.items():
            if name.startswith("KAM_SYNC_"):
                monkeypatch.setenv(name, value)
        assert main(["provision", "--project", str(project)]) == 0
        monkeypatch.setenv("KAM_SYNC_LOG_FORMAT", "json")
        code = main(["run", "--project", str(project), "--log-file", str(log_file)])
        capsys.readouterr()
        monkeypatch.setattr(StateStore, "upsert_snapshot", _failing_upsert)
        failed = main(["run", "--json", "--project", str(project), "--log-file", str(failed_log)])
        document = json.loads(capsys.readouterr().out)

    lines = _lines(log_file)
    assert lines[0]["message"] == "run #1 started" and lines[0]["run_id"] == 1
    # The sandbox's portfolio holds a record or two that are quarantined: "attention", 3.
    assert lines[-1]["message"].startswith("run #1 ended: ")
    assert lines[-1]["message"].endswith(f", exit code {code}")
    assert lines[-1]["fields"]["exit_code"] == code
    assert lines[-1]["fields"]["outcome"] in lines[-1]["message"]
    assert lines[-1]["fields"]["duration_seconds"] > 0
    assert {line["run_id"] for line in lines} == {1}
    assert {line["step"] for line in lines} >= {"pull", "assess"}

    assert failed == 1
    assert document["run_id"] == 2 and document["exit_code"] == 1
    assert document["error"] == {
        "type": "RunFailedError",
        "message": "run failed in pull: RuntimeError",
        "step": "pull",
        "cause": "RuntimeError",
    }
    end = _lines(failed_log)[-1]
    assert end["message"] == "run #2 ended: failed, exit code 1"
    assert RECORD_VALUE not in failed_log.read_text(encoding="utf-8")
