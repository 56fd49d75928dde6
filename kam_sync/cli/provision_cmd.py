"""`kam-sync provision`: create the KAM fields in the CRM, then check the mapping against it.

The KAM inputs the mapping reads are created too unless ``--no-inputs``: a new org has none,
and without them `validate`, `plan` and `run` stop on every missing field. A field that exists
is checked and never recreated, so mapping an input onto the org's own field stays possible.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from kam_sync.errors import ConfigError, ExitCode

if TYPE_CHECKING:
    from kam_sync.config.loader import LoadedProject


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    provision = sub.add_parser(
        "provision",
        help="create the KAM input and write-back fields in the CRM (idempotent), give the "
        "integration user access and (Salesforce) make a permission set for sales users, print "
        "the admin's remaining steps, then check the mapping against the CRM",
    )
    provision.add_argument(
        "--no-inputs",
        dest="inputs",
        action="store_false",
        help="create only the write-back fields, not the KAM input fields the mapping reads "
        "(when your admin made their own)",
    )
    provision.set_defaults(handler=cmd_provision)


def provision(project: LoadedProject, *, inputs: bool = True) -> int:
    """Provision and check; prints what happened. Exit code 0, or 2 when the mapping mismatches."""
    from kam_sync.engine.crm_check import check_against_crm
    from kam_sync.engine.provisioning import all_field_specs
    from kam_sync_connectors.registry import connect

    connector = connect(project.config.crm.type, project.config.connector_settings(), os.environ)
    try:
        report = connector.provision(all_field_specs(project.mapping, project.rules, inputs=inputs))
        for label, names in (
            ("created", report.created),
            ("updated", report.updated),
            ("unchanged", report.unchanged),
        ):
            if names:
                print(f"{label}: {', '.join(names)}")
        for problem in report.problems:
            print(f"problem: {problem}")
        if report.admin_steps:
            print("an admin still has to:")
            for n, step in enumerate(report.admin_steps, 1):
                print(f"  {n}. {step}")
        issues = check_against_crm(project, connector)
    finally:
        connector.close()
    if issues:
        raise ConfigError(issues)
    print(f"the mapping matches the CRM ({project.config.crm.type})")
    return ExitCode.CONFIG_ERROR if report.problems else ExitCode.OK


def cmd_provision(args: argparse.Namespace) -> int:
    from kam_sync.config.loader import load_project

    return provision(load_project(Path(args.project)), inputs=args.inputs)
