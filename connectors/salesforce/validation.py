"""A check for ``kam-sync validate``: relationship paths and related pseudo-fields.

Plain fields and write-back targets are checked by the engine against ``describe``; paths such
as ``Owner.Name`` and pseudo-fields such as ``@AccountTeamMember.TeamMemberRole`` need the
connector, which walks the referenced and child objects' describes.
"""

from __future__ import annotations

from collections.abc import Sequence

from kam_sync.errors import ConfigError
from kam_sync_connectors.salesforce import soql
from kam_sync_connectors.salesforce.describe import DescribeCache


def mapped_field_problems(
    describe: DescribeCache, object_name: str, fields: Sequence[str]
) -> list[str]:
    """Fields (plain, ``Parent.Field`` or ``@Child.Field``) that the org does not have, each
    with a suggestion when a close name exists; empty when all exist."""
    try:
        soql.select_fields(describe.schema(object_name), fields, describe.schema)
    except ConfigError as exc:
        return [issue.message for issue in exc.issues]
    return []
