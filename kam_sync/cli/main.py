"""Entry point of the `kam-sync` command: arguments, exit codes, one clear line per error."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from kam_sync import __version__
from kam_sync.cli import (
    demo_cmd,
    doctor_cmd,
    project_cmds,
    provision_cmd,
    sandbox_cmd,
    schedule_cmd,
    sync_cmds,
)
from kam_sync.cli.logs import configure_logging
from kam_sync.engine.failure import details_log, error_type, log_failure, safe_traceback
from kam_sync.errors import ConfigError, ExitCode, KamSyncError

log = logging.getLogger("kam_sync")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kam-sync",
        description="Key Account Management inside your CRM: scores key-account candidacy, "
        "governs the key-account list, works out plan stage and checklist completion, and "
        "writes the results back into custom CRM fields.",
        epilog="Exit codes: 0 ok, 1 failure, 2 config error, 3 record errors or alerts, "
        "4 stopped at the API quota budget, 5 another run holds the lock, "
        "6 stopped by SIGTERM or Ctrl-C (recorded as interrupted).",
    )
    parser.add_argument("--version", action="version", version=f"kam-sync {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (
        project_cmds,
        sync_cmds,
        provision_cmd,
        doctor_cmd,
        schedule_cmd,
        demo_cmd,
        sandbox_cmd,
    ):
        module.register(sub)
    for command_parser in sub.choices.values():
        _add_common_options(command_parser)
    return parser


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """The options every command takes."""
    parser.add_argument(
        "--project", default=".", metavar="DIR", help="project folder (default: current folder)"
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    parser.add_argument("--log-file", metavar="FILE", help="also write the log to FILE")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(-1 if args.quiet else 1 if args.verbose else 0, args.log_file)
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
        return 130
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


if __name__ == "__main__":
    sys.exit(main())
