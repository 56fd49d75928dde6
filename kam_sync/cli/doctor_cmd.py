"""`kam-sync doctor`: check a project against its CRM before the first run; writes nothing."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kam_sync.errors import ExitCode


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="check the connection and TLS, the login, the permissions or token scopes, the "
        "API budget left and every mapped field, each with its fix; exit 0 when all is well, "
        "2 otherwise; writes nothing",
    )
    doctor.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from kam_sync.config.loader import load_project
    from kam_sync.engine.doctor import doctor_checks
    from kam_sync_connectors.registry import connect

    project = load_project(Path(args.project))
    connector = connect(project.config.crm.type, project.config.connector_settings(), os.environ)
    try:
        checks = doctor_checks(project, connector)
    finally:
        connector.close()
    for check in checks:
        print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
        if not check.ok and check.fix:
            print(f"      fix: {check.fix}")
    failed = sum(1 for c in checks if not c.ok)
    print("all well" if not failed else f"{failed} check(s) failed")
    return ExitCode.OK if not failed else ExitCode.CONFIG_ERROR
