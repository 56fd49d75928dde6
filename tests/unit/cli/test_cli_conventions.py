"""The command line follows the conventions: help text everywhere, defaults shown, usage errors
exit 64 (EX_USAGE), shell completion generated from the parser."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from kam_sync.cli.main import build_parser, main
from kam_sync.errors import ExitCode


def _parsers(
    parser: argparse.ArgumentParser, path: str = "kam-sync"
) -> Iterator[tuple[str, argparse.ArgumentParser, argparse.Action | None]]:
    """Every parser under ``parser`` with its command path and the choice action naming it."""
    yield path, parser, None
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice for choice in action._choices_actions}
            for name, child in action.choices.items():
                for found in _parsers(child, f"{path} {name}"):
                    yield found if found[1] is not child else (found[0], child, helps.get(name))


def test_every_subcommand_and_option_has_help_text() -> None:
    missing: list[str] = []
    for path, parser, choice in _parsers(build_parser()):
        if path != "kam-sync" and (choice is None or not choice.help):
            missing.append(f"{path}: the subcommand has no help")
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            name = "/".join(action.option_strings) or action.dest
            if not action.help or action.help is argparse.SUPPRESS:
                missing.append(f"{path} {name}: no help")
            elif action.default not in (None, False) and "(default" in action.help:
                missing.append(f"{path} {name}: says its default itself (the formatter shows it)")
    assert missing == []


def test_the_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--help"]) == 0
    out = capsys.readouterr().out
    assert "(default: table)" in out
    assert "(default: 50)" in out
    assert "(default: .)" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-command"],
        [],
        ["run", "--no-such-option"],
        ["plan", "--format", "xml"],
        ["plan", "--limit", "many"],
        ["run", "--log-format", "xml"],
    ],
)
def test_a_usage_error_exits_64_not_the_config_error_code(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == ExitCode.USAGE == 64
    assert "usage: kam-sync" in capsys.readouterr().err


def test_a_log_format_variable_kam_sync_does_not_know_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAM_SYNC_LOG_FORMAT", "xml")
    assert main(["status", "--project", "nowhere"]) == 64
    assert "KAM_SYNC_LOG_FORMAT must be one of text, json" in capsys.readouterr().err


@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_shell_completion_names_every_subcommand(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for command in ("init", "validate", "run", "plan", "status", "explain", "completion"):
        assert command in script
    assert "--log-format" in script


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_bash_completion_script_completes_subcommands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    # Load the script as a user's shell does, then ask it what `kam-sync st<Tab>` completes to.
    probe = (
        script
        + '\nCOMP_WORDS=(kam-sync st); COMP_CWORD=1; COMP_LINE="kam-sync st"; COMP_POINT=11\n'
        + '_shtab_kam_sync kam-sync st kam-sync; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "--norc", "-c", probe], capture_output=True, text=True, timeout=30, check=False
    )
    assert set(result.stdout.split()) == {"status"}, result.stderr
