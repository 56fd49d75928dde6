"""From Salesforce's JSON (REST) or CSV (Bulk API 2.0) records to flat raw records.

A raw record is keyed by the field names the mapping used: ``Owner.Name`` is read from the nested
``{"Owner": {"Name": ...}}`` REST gives, and ``@AccountTeamMember.TeamMemberRole`` becomes the
list of that field's values over the subquery's records. Bulk CSV holds only strings; they are
turned into the JSON types REST would have given, by the field's describe type, so both paths
produce the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kam_sync_connectors.base import RawRecord
from kam_sync_connectors.salesforce.soql import RelatedField, Selection

# More child records than the subquery batch are paged with their own nextRecordsUrl.
FetchMore = Callable[[str], dict[str, Any]]


def parse_datetime(value: object) -> datetime | None:
    """Salesforce date-time (``2026-05-20T20:49:32.000+0000``) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]  # +0000 -> +00:00, for Python 3.11's fromisoformat
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _walk(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _children(record: dict[str, Any], related: RelatedField, fetch_more: FetchMore) -> list[Any]:
    block = record.get(related.relationship)
    values: list[Any] = []
    while isinstance(block, dict):
        values.extend(r.get(related.field) for r in block.get("records") or ())
        next_url = block.get("nextRecordsUrl")
        if block.get("done", True) or not next_url:
            break
        block = fetch_more(str(next_url))
    return values


def flatten(record: dict[str, Any], selection: Selection, fetch_more: FetchMore) -> RawRecord:
    """One REST record as a flat raw record keyed by the mapping's field names."""
    flat: RawRecord = {path: _walk(record, path) for path in selection.paths}
    for related in selection.related:
        flat[related.key] = _children(record, related, fetch_more)
    return flat


_NUMBER_TYPES = frozenset({"double", "currency", "percent"})
_INTEGER_TYPES = frozenset({"int", "long"})


def csv_value(text: str, sf_type: str | None) -> Any:
    """A Bulk API 2.0 CSV cell as the JSON value REST would give (empty cell -> None)."""
    if text == "":
        return None
    if sf_type == "boolean":
        return text.lower() == "true"
    if sf_type in _INTEGER_TYPES:
        try:
            return int(text)
        except ValueError:
            return text
    if sf_type in _NUMBER_TYPES:
        try:
            return Decimal(text)
        except InvalidOperation:
            return text
    return text


def csv_records(
    rows: Iterator[dict[str, str]], types: dict[str, str | None]
) -> Iterator[RawRecord]:
    """Bulk query CSV rows (keyed by the SELECT paths) as raw records."""
    for row in rows:
        yield {path: csv_value(row.get(path, ""), sf_type) for path, sf_type in types.items()}
