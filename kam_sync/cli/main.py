"""Entry point of the `kam-sync` command: arguments, exit codes, one clear line per error."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from kam_sync import __version__
from kam_sync.cli import project_cmds
from kam_sync.cli.logs import configure_logging
from kam_sync.errors import ConfigError, ExitCode, KamSyncError

log = logging.getLogger("kam_sync")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kam-sync",
        description="Key Account Management inside your CRM: scores key-account candidacy, "
        "governs the key-account list, works out plan stage and checklist completion, and "
        "writes the results back into custom CRM fields.",
        epilog="Exit codes: 0 ok, 1 failure, 2 config error, 3 record errors or alerts, "
        "4 stopped at the API quota budget, 5 another run holds the lock.",
    )
    parser.add_argument("--version", action="version", version=f"kam-sync {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--project", default=".", metavar="DIR", help="project folder (default: current folder)"
    )
    verbosity = common.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    common.add_argument("--log-file", metavar="FILE", help="also write the log to FILE")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _ParentedSubparsers(sub, common).register_all()
    return parser


class _ParentedSubparsers:
    """Gives every sub-command the common options (--project, -v, -q, --log-file)."""

    def __init__(
        self,
        sub: argparse._SubParsersAction[argparse.ArgumentParser],
        common: argparse.ArgumentParser,
    ) -> None:
        self._sub = sub
        self._common = common
        original = sub.add_parser

        def add_parser(name: str, **kwargs: object) -> argparse.ArgumentParser:
            parents = list(kwargs.pop("parents", []))  # type: ignore[call-overload]
            return original(name, parents=[*parents, common], **kwargs)  # type: ignore[arg-type]

        sub.add_parser = add_parser  # type: ignore[method-assign]

    def register_all(self) -> None:
        project_cmds.register(self._sub)
        for module in _optional_command_modules():
            module.register(self._sub)


def _optional_command_modules() -> list[Any]:
    import importlib

    modules: list[Any] = []
    for name in (
        "kam_sync.cli.sync_cmds",
        "kam_sync.cli.provision_cmd",
        "kam_sync.cli.schedule_cmd",
        "kam_sync.cli.demo_cmd",
        "kam_sync.cli.sandbox_cmd",
    ):
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            # Only commands that work are listed; a missing optional part is logged, not hidden.
            log.debug("command module %s not available: %s", name, exc)
    return modules


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
        log.debug("command failed", exc_info=True)
        print(f"kam-sync: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("kam-sync: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A bug, not a user error: one line on the terminal, the traceback in the log.
        log.error("unexpected error", exc_info=True)
        print(
            f"kam-sync: unexpected error: {type(exc).__name__}: {exc} (details in the log)",
            file=sys.stderr,
        )
        return ExitCode.FAILURE
    return code


if __name__ == "__main__":
    sys.exit(main())
