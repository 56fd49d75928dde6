"""`kam-sync init`, `validate` and `schema`: creating and checking a project."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, overload

from kam_sync.errors import ConfigError, ExitCode, KamSyncError

if TYPE_CHECKING:
    from kam_sync.config.loader import LoadedProject

RULE_SCHEMA_KINDS = {
    "scoring.yaml": "scoring",
    "governance.yaml": "governance",
    "checklist.yaml": "checklist",
    "stages.yaml": "stages",
}


class CrmNames(Sequence[str]):
    """The registry's CRM names, read when argparse first looks at them (``--help``, checking
    ``--crm``, a completion script): the registry loads every CRM's settings models, which a
    command that never names a CRM (``--version``, ``schema``) need not pay for."""

    @staticmethod
    def _names() -> Sequence[str]:
        from kam_sync_connectors import registry

        return registry.crm_names()

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser(
        "init",
        help="create a project: kam-sync.yaml, the default mapping and rules, JSON Schemas",
        description="Create a kam-sync project folder with a commented kam-sync.yaml, the "
        "default mapping for your CRM and the default rule pack.",
    )
    init.add_argument(
        "directory", nargs="?", default=None, help="project folder (default: --project)"
    )
    crm = init.add_argument("--crm", default="salesforce", help="the CRM to sync with")
    # Set after add_argument, which reads the choices at once (to check the metavar).
    crm.choices = CrmNames()
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(handler=cmd_init)

    validate = sub.add_parser(
        "validate",
        help="check the project's config files; exit 0 when valid, 2 with every error when not",
        description="Check every config file. When the CRM's credentials are in the environment, "
        "also check the mapping against the CRM (fields exist, types fit, write-back targets are "
        "updateable and their picklists hold every value the rules can produce).",
    )
    validate.add_argument("--offline", action="store_true", help="do not contact the CRM")
    validate.set_defaults(handler=cmd_validate)

    schema = sub.add_parser("schema", help="write a JSON Schema for each YAML file kind")
    schema.add_argument("directory", help="folder to write the *.schema.json files into")
    schema.set_defaults(handler=cmd_schema)


def cmd_init(args: argparse.Namespace) -> int:
    root = Path(args.directory) if args.directory else Path(args.project)
    crm: str = args.crm
    written = create_project(root, crm, force=args.force)
    print(f"Created a kam-sync project for {crm} in {root}:")
    for path in written:
        print(f"  {path.relative_to(root)}")
    print(
        f"Next: set the KAM_SYNC_* credentials (see the README), then `kam-sync validate --project {root}`."
    )
    return ExitCode.OK


def create_project(
    root: Path, crm: str, *, force: bool = False, crm_block: str | None = None
) -> list[Path]:
    """Write a project's files; refuses to overwrite any unless ``force``. Returns the files."""
    from kam_sync.config.project import PROJECT_FILE
    from kam_sync.config.schemas import schema_modeline, write_schemas
    from kam_sync.config.template import render_project_file
    from kam_sync.default_files import default_files

    plan: dict[Path, str] = {root / PROJECT_FILE: render_project_file(crm, crm_block)}
    mapping_src = default_files("mappings")[f"{crm}.yaml"]
    plan[root / "mappings" / f"{crm}.yaml"] = schema_modeline("mapping", 1) + mapping_src.read_text(
        encoding="utf-8"
    )
    for name, path in default_files("rules").items():
        kind = RULE_SCHEMA_KINDS.get(name)
        head = schema_modeline(kind, 1) if kind else ""
        plan[root / "rules" / name] = head + path.read_text(encoding="utf-8")
    plan[root / ".gitignore"] = "state/\n"
    existing = [p for p in plan if p.exists()]
    if existing and not force:
        listing = "\n".join(f"  {p}" for p in existing)
        raise KamSyncError(
            f"refusing to overwrite existing files (use --force to replace them):\n{listing}"
        )
    for path, text in plan.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    schemas = write_schemas(root / "schemas")
    return [*plan, *schemas]


def cmd_validate(args: argparse.Namespace) -> int:
    from kam_sync.config.alert_urls import webhook_url_issues
    from kam_sync.config.loader import load_project
    from kam_sync.config.project import PROJECT_FILE

    project = load_project(Path(args.project))
    mapping = project.mapping
    # Printed once every check passed: never "valid" followed by an error.
    lines = [
        f"{project.root / PROJECT_FILE}: valid",
        f"  crm: {project.config.crm.type}",
        f"  mapping: {project.files['mapping'].relative_to(project.root)} "
        f"({len(mapping.objects.account.fields)} account fields, "
        f"{len(mapping.objects.opportunity.fields)} opportunity fields, "
        f"{len(mapping.write_back)} write-back targets)",
    ]
    for kind in ("scoring", "governance", "checklist", "stages"):
        lines.append(f"  {kind}: {project.files[kind].relative_to(project.root)}")
    lines.append(
        f"  schedule: '{project.config.schedule.cron}' in {project.config.schedule.timezone}"
    )
    # labels missing, texts longer than their fields
    lines += [f"  warning: {warning}" for warning in project.rules.warnings]
    webhook_issues, unset = webhook_url_issues(project.config, project.files["project"], os.environ)
    if webhook_issues:
        raise ConfigError(webhook_issues)
    lines += [f"  alerts: {name} is not set here; its webhook would be skipped" for name in unset]
    if not args.offline:
        lines.append(_crm_check(project))
    print("\n".join(lines))
    return ExitCode.OK


def _crm_check(project: LoadedProject) -> str:
    """The mapping against the CRM, when its credentials are here; raises ConfigError."""
    from kam_sync_connectors import registry

    crm = project.config.crm.type
    known = registry.entry(crm)
    if not known.credentials_available(os.environ):
        return (
            f"  CRM check skipped: no {crm} credentials in the environment or the OS keyring "
            f"({', '.join(known.secret_variables)})"
        )
    from kam_sync.engine.crm_check import check_against_crm

    connector = known.connect(project.config.connector_settings(), os.environ)
    try:
        issues = check_against_crm(project, connector)
    finally:
        connector.close()
    if issues:
        raise ConfigError(issues)
    return f"  the mapping matches the {crm} org/account"


def cmd_schema(args: argparse.Namespace) -> int:
    from kam_sync.config.schemas import write_schemas

    folder = Path(args.directory)
    for path in write_schemas(folder):
        print(path)
    return ExitCode.OK
