"""`kam-sync provision`: create the write-back fields in the CRM, then check the mapping against it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kam_sync.config.loader import LoadedProject, load_project
from kam_sync.engine.crm_check import check_against_crm
from kam_sync.engine.provisioning import field_specs
from kam_sync.errors import ConfigError, ExitCode
from kam_sync_connectors.registry import connect


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    provision = sub.add_parser(
        "provision",
        help="create the KAM write-back fields in the CRM (idempotent), then check the mapping against it",
    )
    provision.set_defaults(handler=cmd_provision)


def provision(project: LoadedProject) -> int:
    """Provision and check; prints what happened. Exit code 0, or 2 when the mapping mismatches."""
    connector = connect(project.config.crm.type, project.config.connector_settings(), os.environ)
    try:
        report = connector.provision(field_specs(project.mapping))
        for label, names in (
            ("created", report.created),
            ("updated", report.updated),
            ("unchanged", report.unchanged),
        ):
            if names:
                print(f"{label}: {', '.join(names)}")
        for problem in report.problems:
            print(f"problem: {problem}")
        issues = check_against_crm(project, connector)
    finally:
        connector.close()
    if issues:
        raise ConfigError(issues)
    print(f"the mapping matches the CRM ({project.config.crm.type})")
    return ExitCode.CONFIG_ERROR if report.problems else ExitCode.OK


def cmd_provision(args: argparse.Namespace) -> int:
    return provision(load_project(Path(args.project)))
