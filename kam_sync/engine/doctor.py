"""`kam-sync doctor`: everything that would stop a first run, each with its fix. Reads only.

The connector checks what only it knows (connection and TLS, the login flow, permissions or
token scopes, the API budget left); then, if it got in, the mapping is checked against the CRM
as `validate` does: every mapped field's existence, type and access (a field the user may not
read is missing from its describe), the write-back fields' type and picklist values, and the
checklist options against ``rules/checklist.yaml``.
"""

from __future__ import annotations

from kam_sync.config.loader import LoadedProject
from kam_sync.engine.crm_check import inspect_mapping
from kam_sync.errors import KamSyncError
from kam_sync_connectors.base import Connector, DoctorCheck

FIX_BY_WORDS = (
    ("run `kam-sync provision`", "run `kam-sync provision`"),
    ("has no field", "run `kam-sync provision`, or correct the name in the mapping; a field the "
     "integration user cannot read is missing too: grant it read access"),
)  # fmt: skip


def doctor_checks(project: LoadedProject, connector: Connector) -> list[DoctorCheck]:
    """The connector's checks, then the mapping's (when the connector got in)."""
    checks = connector.diagnose()
    if any(not c.ok and c.name in ("connection", "auth") for c in checks):
        return checks
    try:
        found = inspect_mapping(project, connector)
    except KamSyncError as exc:
        checks.append(
            DoctorCheck(
                "mapped fields",
                False,
                f"the objects could not be described: {exc}",
                "give the integration user read access to the mapped objects",
            )
        )
        return checks
    issues = found.blocking + found.warnings
    if not issues:
        fields = sum(
            len(getattr(project.mapping.objects, o).fields) for o in ("account", "opportunity")
        )
        checks.append(
            DoctorCheck(
                "mapped fields",
                True,
                f"{fields} mapped fields and {len(project.mapping.write_back)} write-back fields "
                "exist, with fitting types, access and picklist values",
            )
        )
    for issue in issues:
        text = str(issue)
        fix = next((f for words, f in FIX_BY_WORDS if words in text), "edit the mapping or the CRM")
        checks.append(DoctorCheck("mapped field", False, text, fix))
    return checks
