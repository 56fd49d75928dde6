"""Checks for ``kam-sync validate``: mapped fields and write-back targets against describe.

Both return human-readable problems (all of them, not the first) and make no change.
"""

from __future__ import annotations

from collections.abc import Sequence

from kam_sync.config.suggest import did_you_mean
from kam_sync.errors import ConfigError
from kam_sync_connectors.base import CustomFieldSpec
from kam_sync_connectors.salesforce import soql
from kam_sync_connectors.salesforce.describe import DescribeCache
from kam_sync_connectors.salesforce.provision import Provisioner


def mapped_field_problems(
    describe: DescribeCache, object_name: str, fields: Sequence[str]
) -> list[str]:
    """Fields (plain, ``Parent.Field`` or ``@Child.Field``) that the org does not have."""
    try:
        soql.select_fields(describe.schema(object_name), fields, describe.schema)
    except ConfigError as exc:
        return [issue.message for issue in exc.issues]
    return []


def write_back_problems(describe: DescribeCache, specs: Sequence[CustomFieldSpec]) -> list[str]:
    """Targets that are missing, of another type, read-only, or lack a value the rules write.

    ``spec.values`` are the picklist values the rules can produce, as Salesforce stores them.
    """
    problems: list[str] = []
    for spec in specs:
        full_name = f"{spec.object_name}.{spec.name}"
        schema = describe.schema(spec.object_name)
        existing = schema.field(spec.name)
        if existing is None:
            problems.append(
                f"{full_name}: no such field (run `kam-sync provision`)"
                + did_you_mean(spec.name, schema.description.fields)
            )
            continue
        mismatch = Provisioner.mismatch(spec, existing)
        if mismatch:
            problems.append(f"{full_name}: {mismatch}")
            continue
        missing = [v for v in spec.values if v not in existing.picklist_values]
        if spec.type in ("picklist", "multipicklist") and missing:
            problems.append(
                f"{full_name}: picklist lacks {', '.join(repr(v) for v in missing)} "
                "(run `kam-sync provision` to add them)"
            )
    return problems
