"""SOQL built from the mapping: names checked against describe, literals escaped.

Nothing from configuration is pasted into a query as text. Field names must exist in the
object's describe (relationship paths are walked through the referenced objects), and values go
through ``literal``, which quotes and escapes strings the way the SOQL reference ("Quoted String
Escape Sequences") prescribes and formats dates and date-times as SOQL literals.

Field forms a mapping may use:

* ``Name``, ``KAM_Tier__c``: a field of the object;
* ``Owner.Name``: a field of a parent, through the relationship name (up to 5 levels);
* ``@AccountTeamMember.TeamMemberRole``: a *related pseudo-field*: the values of a field of a
  child object, one list per record, read through a parent-to-child subquery
  (``(SELECT TeamMemberRole FROM AccountTeamMembers)``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from kam_sync.config.issues import ConfigIssue
from kam_sync.config.suggest import did_you_mean
from kam_sync.errors import ConfigError
from kam_sync_connectors.salesforce.describe import SObjectSchema

RELATED_PREFIX = "@"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
MAX_RELATIONSHIP_DEPTH = 5
# Backslash first, so the escapes added after it are not escaped again.
_ESCAPES = (
    ("\\", "\\\\"),
    ("'", "\\'"),
    ('"', '\\"'),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\t", "\\t"),
    ("\b", "\\b"),
    ("\f", "\\f"),
)


def literal(value: object) -> str:
    """A SOQL literal for a Python value; strings are quoted and escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("SOQL date-times must be timezone-aware")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        for raw, escaped in _ESCAPES:
            value = value.replace(raw, escaped)
        return f"'{value}'"
    raise TypeError(f"no SOQL literal for {type(value).__name__}")


# Ids per ``WHERE Id IN (...)`` query. The query travels in the URL: Salesforce caps URI plus
# headers at 16,384 bytes and recommends URIs of about 2,000 characters (Help article
# 000386264). 200 quoted Ids are about 6,000 URL-encoded characters, leaving room for a select
# list under the cap.
IDS_PER_QUERY = 200


def id_literal(record_id: str) -> str:
    """A quoted record id, after checking it looks like one (15 or 18 characters)."""
    if not _ID.match(record_id):
        raise ValueError(f"not a Salesforce record id: {record_id!r}")
    return f"'{record_id}'"


@dataclass(frozen=True, slots=True)
class RelatedField:
    """``@Child.Field``: the values of ``Field`` over the records of a child relationship."""

    key: str  # the pseudo-field as the mapping names it
    child_object: str
    relationship: str
    field: str
    parent_field: str | None = None  # the child's reference to the parent (``AccountId``)
    # ``queryAll`` returns deleted children in a relationship subquery too: they are filtered
    # out where the child object has ``IsDeleted``.
    live_only: bool = False

    def subquery(self) -> str:
        where = " WHERE IsDeleted = false" if self.live_only else ""
        return f"(SELECT {self.field} FROM {self.relationship}{where})"


@dataclass(frozen=True, slots=True)
class Selection:
    """The checked SELECT list: plain and dotted paths, and related pseudo-fields."""

    paths: tuple[str, ...]
    related: tuple[RelatedField, ...]

    def select_list(self) -> str:
        parts = list(self.paths)
        parts += [r.subquery() for r in self.related]
        return ", ".join(parts)


class FieldProblem(ValueError):
    """One mapped field that the object's describe does not support."""


def _checked(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise FieldProblem(f"{what}: {name!r} is not a Salesforce API name")
    return name


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"{what}: {name!r} is not a Salesforce API name")
    return name


def select_fields(
    schema: SObjectSchema,
    fields: Sequence[str],
    describe: Callable[[str], SObjectSchema],
) -> Selection:
    """Check every mapped field against describe; all problems are reported at once."""
    paths: list[str] = []
    related: list[RelatedField] = []
    problems: list[str] = []
    for key in dict.fromkeys(fields):
        try:
            if key.startswith(RELATED_PREFIX):
                related.append(_related(schema, key, describe))
            else:
                paths.append(_path(schema, key, describe))
        except FieldProblem as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError([ConfigIssue(None, None, None, p) for p in problems])
    return Selection(tuple(paths), tuple(related))


def _related(
    schema: SObjectSchema, key: str, describe: Callable[[str], SObjectSchema]
) -> RelatedField:
    child, _, field = key[len(RELATED_PREFIX) :].partition(".")
    _checked(child, f"{schema.name} field {key}")
    _checked(field, f"{schema.name} field {key}")
    relationship = schema.children.get(child)
    if relationship is None:
        raise FieldProblem(
            f"{schema.name} field {key}: {child} is not a child object of {schema.name}"
            + did_you_mean(child, schema.children)
        )
    if describe(child).field(field) is None:
        raise FieldProblem(
            f"{schema.name} field {key}: {child} has no field {field}"
            + did_you_mean(field, describe(child).description.fields)
        )
    return RelatedField(
        key,
        child,
        relationship,
        field,
        schema.child_fields.get(child),
        live_only=describe(child).field("IsDeleted") is not None,
    )


def _path(schema: SObjectSchema, key: str, describe: Callable[[str], SObjectSchema]) -> str:
    parts = key.split(".")
    if len(parts) > MAX_RELATIONSHIP_DEPTH + 1:
        raise FieldProblem(f"{schema.name} field {key}: more than {MAX_RELATIONSHIP_DEPTH} levels")
    current = schema
    for depth, part in enumerate(parts):
        _checked(part, f"{schema.name} field {key}")
        if depth == len(parts) - 1:
            if current.field(part) is None:
                raise FieldProblem(
                    f"{schema.name} field {key}: {current.name} has no field {part}"
                    + did_you_mean(part, current.description.fields)
                )
            break
        targets = current.parents.get(part)
        if targets is None:
            raise FieldProblem(
                f"{schema.name} field {key}: {current.name} has no relationship {part}"
                + did_you_mean(part, current.parents)
            )
        if len(targets) != 1:
            break  # polymorphic (e.g. What, Who): the name was checked, the target cannot be
        current = describe(targets[0])
    return key


def incremental_query(
    object_name: str,
    selection: Selection,
    *,
    modified_field: str,
    id_field: str,
    since: datetime | None,
    until: datetime,
    ordered: bool = True,
) -> str:
    """SELECT ... WHERE modified in [since, until] ORDER BY modified, id.

    ``ordered=False`` leaves the ORDER BY out, for Bulk API 2.0 query jobs: an ORDER BY there
    turns off PK chunking and large queries time out (Bulk API 2.0 and Bulk API Developer
    Guide, "Troubleshooting Query Timeouts"); the caller computes the watermark itself.
    """
    check_name(object_name, "object")
    where = [f"{modified_field} <= {literal(until)}"]
    if since is not None:
        where.insert(0, f"{modified_field} >= {literal(since)}")
    text = f"SELECT {selection.select_list()} FROM {object_name} WHERE {' AND '.join(where)}"
    if not ordered:
        return text
    return f"{text} ORDER BY {modified_field} ASC, {id_field} ASC"


def changed_children_query(
    related: RelatedField, *, modified_field: str, since: datetime, until: datetime
) -> str:
    """The parents of the child records (deleted ones too, with queryAll) changed in the window."""
    if related.parent_field is None:
        raise ValueError(f"{related.child_object} has no known reference to its parent")
    child = check_name(related.child_object, "object")
    parent_field = check_name(related.parent_field, child)
    return (
        f"SELECT {parent_field} FROM {child} WHERE {modified_field} >= {literal(since)} "
        f"AND {modified_field} <= {literal(until)}"
    )


def selection_by_ids_query(
    object_name: str, selection: Selection, id_field: str, ids: Sequence[str]
) -> str:
    """SELECT <selection> FROM object WHERE Id IN (...)."""
    check_name(object_name, "object")
    check_name(id_field, object_name)
    return (
        f"SELECT {selection.select_list()} FROM {object_name} "
        f"WHERE {id_field} IN ({', '.join(id_literal(i) for i in ids)})"
    )


def ids_query(object_name: str, fields: Sequence[str], ids: Sequence[str]) -> str:
    """SELECT Id, <fields> FROM object WHERE Id IN (...)."""
    check_name(object_name, "object")
    names = ", ".join(["Id", *(check_name(f, object_name) for f in fields if f != "Id")])
    return (
        f"SELECT {names} FROM {object_name} WHERE Id IN ({', '.join(id_literal(i) for i in ids)})"
    )
