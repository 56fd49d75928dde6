"""The `kam-sync` console script ends the process without the interpreter's teardown, once the
exit handlers have run and the streams are flushed, and only when no other thread is alive."""

from __future__ import annotations

import threading

import pytest

from kam_sync.cli import main as cli_main


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _exit(code: int) -> None:
    raise _Exited(code)


def test_the_exit_handlers_run_then_the_process_ends_with_mains_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []
    monkeypatch.setattr(cli_main, "main", lambda: events.append("main") or 3)
    monkeypatch.setattr(cli_main.atexit, "_run_exitfuncs", lambda: events.append("atexit"))
    monkeypatch.setattr(cli_main.os, "_exit", _exit)
    monkeypatch.setattr(cli_main.threading, "active_count", lambda: 1)

    with pytest.raises(_Exited) as ended:
        cli_main.command()

    assert ended.value.code == 3
    assert events == ["main", "atexit"]


def test_with_another_thread_alive_the_interpreter_ends_as_usual(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_main, "main", lambda: 4)
    monkeypatch.setattr(cli_main.os, "_exit", _exit)
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        with pytest.raises(SystemExit) as ended:
            cli_main.command()
    finally:
        release.set()
        worker.join()

    assert ended.value.code == 4
