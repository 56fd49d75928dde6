"""Entry point of the `kam-sync` command: arguments, exit codes, one clear line per error."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from kam_sync import __version__
from kam_sync.cli import (
    completion_cmd,
    demo_cmd,
    doctor_cmd,
    project_cmds,
    provision_cmd,
    report_cmd,
    review_cmds,
    sandbox_cmd,
    schedule_cmd,
    sync_cmds,
)
from kam_sync.cli.lifecycle import ABORTED_EXIT_CODE
from kam_sync.cli.logs import (
    LOG_FORMAT_ENV,
    LOG_FORMATS,
    configure_logging,
    log_format_from_environment,
)
from kam_sync.engine.failure import details_log, error_type, log_failure, safe_traceback
from kam_sync.errors import ConfigError, ExitCode, KamSyncError

log = logging.getLogger("kam_sync")

# Each module adds its subcommands with ``register(sub)``; one line per module.
COMMAND_MODULES = (
    project_cmds,
    sync_cmds,
    review_cmds,
    provision_cmd,
    doctor_cmd,
    schedule_cmd,
    demo_cmd,
    sandbox_cmd,
    report_cmd,
    completion_cmd,
)

EPILOG = (
    "Exit codes: 0 ok, 1 failure, 2 config error, 3 record errors or alerts, "
    "4 stopped at the API quota budget, 5 another run holds the lock, "
    "6 stopped by SIGTERM or Ctrl-C (recorded as interrupted), "
    "64 usage error (a command line kam-sync does not understand), 130 aborted by a second "
    "stop request. Logs: --log-format json (or KAM_SYNC_LOG_FORMAT=json) writes one JSON "
    "object a line. Shell completion: `kam-sync completion bash|zsh|tcsh` (see the README)."
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is nothing to say (no default, a flag)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help
        if isinstance(action, argparse._StoreConstAction | argparse._VersionAction):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse with kam-sync's conventions: defaults shown, usage errors exit 64 (EX_USAGE),
    apart from 2, which means a configuration error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="kam-sync",
        description="Key Account Management inside your CRM: scores key-account candidacy, "
        "governs the key-account list, works out plan stage and checklist completion, and "
        "writes the results back into custom CRM fields.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "--version", action="version", version=f"kam-sync {__version__}", help="show the version"
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, help="what to do (COMMAND -h for more)"
    )
    for module in COMMAND_MODULES:
        module.register(sub)
    _describe_subcommands(sub)
    for command_parser in sub.choices.values():
        _add_common_options(command_parser)
    # The whole parser, for commands that describe the command line itself (`completion`).
    parser.set_defaults(root_parser=parser)
    return parser


def _describe_subcommands(sub: argparse._SubParsersAction[Any]) -> None:
    """A subcommand's own --help opens with its one-line help when it has no description."""
    helps = {action.dest: action.help for action in sub._choices_actions}
    for name, command_parser in sub.choices.items():
        if command_parser.description is None and helps.get(name):
            command_parser.description = helps[name]
        for action in command_parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _describe_subcommands(action)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """The options every command takes."""
    parser.add_argument("--project", default=".", metavar="DIR", help="project folder")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    parser.add_argument("--log-file", metavar="FILE", help="also write the log to FILE")
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=log_format_from_environment(),
        help=f"text for people, json for log shippers (one object a line); {LOG_FORMAT_ENV} "
        "sets the default",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    if args.log_format not in LOG_FORMATS:
        # Only the variable can get here: argparse checks the option's choices itself.
        print(
            f"kam-sync: error: {LOG_FORMAT_ENV} must be one of {', '.join(LOG_FORMATS)}",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    configure_logging(
        -1 if args.quiet else 1 if args.verbose else 0, args.log_file, args.log_format
    )
    try:
        code = int(args.handler(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return ExitCode.CONFIG_ERROR
    except KamSyncError as exc:
        # Causes chained to our error are foreign errors whose text may hold record values.
        details_log.debug("command failed\n%s", safe_traceback(exc))
        print(f"kam-sync: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("kam-sync: interrupted", file=sys.stderr)
        return ABORTED_EXIT_CODE
    except BrokenPipeError:
        # The reader went away (`kam-sync status | head`): not an error of ours. Point stdout
        # at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except Exception as exc:
        # A bug, not a user error: one line on the terminal, the traceback in the log. Its text
        # is not shown anywhere: it may hold record values (see kam_sync.engine.failure).
        log_failure(exc, f"kam-sync {args.command}")
        print(
            f"kam-sync: {args.command} failed: {error_type(exc)} "
            "(details in the log file; -v shows the traceback)",
            file=sys.stderr,
        )
        return ExitCode.FAILURE
    return code


def command() -> NoReturn:
    """The `kam-sync` command (the console script): ``main()``, then the process ends without
    the interpreter's teardown.

    Tearing the interpreter down frees every object of every module one by one (polars,
    SQLAlchemy, pydantic, the CRM SDKs): 0.15-0.25 s after every command, about a third of
    what a 5,000-account nightly run may spend beyond its calls (bench/RESULTS.md). What must
    happen at exit still happens first: the exit handlers run (logging flushes and closes its
    files, temporary folders are removed) and the standard streams are flushed. Only when no
    other thread is alive: one still running would be cut off, so then the interpreter ends
    as usual.
    """
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()  # what the interpreter's own exit would run first
    for stream in (sys.stdout, sys.stderr):
        # The reader may have gone away, or the stream been closed: nothing left to deliver.
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    command()
