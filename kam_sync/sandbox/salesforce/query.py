"""Bind parsed SOQL to the schema: resolve fields, build predicates, sort keys, projections.

Behaviour that follows SOQL rather than SQL, on purpose:
- text comparisons (`=`, `LIKE`, ordering) are case-insensitive;
- `!=` and `NOT IN` match records whose value is null;
- ids compare in their 18-character form, whichever form the query uses;
- unknown fields are `INVALID_FIELD`, unknown objects `INVALID_TYPE`, with Salesforce's text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from kam_sync.sandbox.salesforce.ids import normalize_id
from kam_sync.sandbox.salesforce.schema import TEXT_TYPES, FieldDef, ObjectSchema
from kam_sync.sandbox.salesforce.soql import (
    BoolOp,
    Comparison,
    Condition,
    FieldPath,
    Literal,
    Not,
    SoqlError,
    SoqlQuery,
    malformed,
)
from kam_sync.sandbox.salesforce.store import Record, SalesforceStore
from kam_sync.sandbox.salesforce.values import formatter, parse_date, parse_datetime

Getter = Callable[[Record], Any]
Predicate = Callable[[Record], bool]

_NO_COLUMN_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the "
    "custom field name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
_NO_RELATION_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after "
    "the custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)


def _error(query: SoqlQuery, code: str, column: int, reason: str) -> SoqlError:
    shaped = malformed(query.text, column, reason)
    return SoqlError(code, shaped.message)


@dataclass(slots=True)
class ResolvedField:
    """A field path resolved to a getter and the final field's definition."""

    path: FieldPath
    field_def: FieldDef
    getter: Getter
    relationships: tuple[tuple[str, str], ...]  # (relationship name, target object) per hop


# Fields every record of every table carries (seeded, created or Tooling): sorting by them
# can read `record[name]` directly, with no null handling.
ALWAYS_SET_FIELDS = frozenset({"Id", "SystemModstamp", "CreatedDate", "LastModifiedDate"})


@dataclass(frozen=True, slots=True)
class SortKey:
    """One ORDER BY item, bound to the schema."""

    getter: Getter
    descending: bool
    nulls_last: bool
    is_text: bool
    always_set: str | None  # the field's name when every record has a value for it


@dataclass(slots=True)
class ProjectionNode:
    """Which columns of one object (and its parents) a query returns."""

    sobject: str
    columns: list[tuple[str, str, Callable[[Any], Any]]] = field(default_factory=list)
    children: dict[str, tuple[str, ProjectionNode]] = field(default_factory=dict)
    # key (canonical relationship name) -> (reference field name, node of the target)


@dataclass(slots=True)
class CompiledQuery:
    """A query bound to the schema, ready to run."""

    query: SoqlQuery
    schema: ObjectSchema
    tooling: bool
    predicate: Predicate | None
    sort_keys: list[SortKey]
    sort_signature: tuple[tuple[str, bool, bool], ...]  # (field path, desc, nulls last)
    projection: ProjectionNode
    count_only: bool
    # Range conditions on the leading ORDER BY field, served by bisecting the sorted view;
    # `predicate` then holds only the other conditions (see `_split_leading_ranges`).
    leading_ranges: list[tuple[str, Any]] = field(default_factory=list)
    # `Id = '...'` or `Id IN (...)` at the top level: fetch those records by key instead of
    # scanning (the predicate still checks every condition).
    id_lookup: list[str] | None = None
    children: list[ChildQuery] = field(default_factory=list)


@dataclass(slots=True)
class ChildQuery:
    """A parent-to-child subquery bound to the child object."""

    relationship: str  # canonical relationship name, the key in each parent record
    reference_field: str  # the child's field that points at the parent
    compiled: CompiledQuery


_RANGE_OPS = frozenset({">", ">=", "<", "<="})


class QueryCompiler:
    """Binds parsed queries to the store's schema."""

    def __init__(self, store: SalesforceStore, *, today: Callable[[], dt.date]) -> None:
        self.store = store
        self.today = today

    def compile(
        self, query: SoqlQuery, *, tooling: bool = False, as_child: bool = False
    ) -> CompiledQuery:
        schema = self.store.schema.get(query.sobject, tooling=tooling)
        if schema is None:
            raise _error(
                query,
                "INVALID_TYPE",
                query.sobject_column,
                f"sObject type '{query.sobject}' is not supported. If you are attempting to "
                "use a custom object, be sure to append the '__c' after the entity name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        projection = ProjectionNode(schema.name)
        for path in query.fields:
            resolved = self.resolve(query, schema, path, tooling=tooling)
            self._add_projection(projection, resolved)
        predicate = None
        leading_ranges: list[tuple[str, Any]] = []
        id_lookup = None if as_child else _id_lookup(query.where)
        if query.where is not None and (id_lookup is not None or as_child):
            predicate = self._condition(query, schema, query.where, tooling)
        elif query.where is not None:
            rest, leading_ranges = self._split_leading_ranges(query, schema, tooling)
            if rest is not None:
                predicate = self._condition(query, schema, rest, tooling)
        sort_keys = []
        for item in query.order_by:
            resolved = self.resolve(query, schema, item.field, tooling=tooling)
            if resolved.field_def.type in ("textarea", "multipicklist"):
                raise _error(
                    query,
                    "INVALID_FIELD",
                    item.field.column,
                    f"field '{resolved.field_def.name}' can not be sorted in a query call",
                )
            is_text = resolved.field_def.type in TEXT_TYPES
            raw = resolved.field_def.name if not resolved.relationships else None
            sort_keys.append(
                SortKey(
                    resolved.getter,
                    item.descending,
                    item.nulls_last,
                    is_text,
                    raw if raw in ALWAYS_SET_FIELDS else None,
                )
            )
        signature = tuple(
            (item.field.text.lower(), item.descending, item.nulls_last) for item in query.order_by
        )
        return CompiledQuery(
            query,
            schema,
            tooling,
            predicate,
            sort_keys,
            signature,
            projection,
            query.count_only,
            leading_ranges,
            id_lookup,
            [self._child(query, schema, sub) for sub in query.subqueries],
        )

    def _child(self, query: SoqlQuery, schema: ObjectSchema, sub: SoqlQuery) -> ChildQuery:
        for relation in self.store.schema.child_relationships(schema.name):
            if relation.name.lower() == sub.sobject.lower():
                bound = replace(sub, sobject=relation.child_object)
                compiled = self.compile(bound, as_child=True)
                return ChildQuery(relation.name, relation.field, compiled)
        raise _error(
            query,
            "INVALID_TYPE",
            sub.sobject_column,
            f"Didn't understand relationship '{sub.sobject}' in FROM part of query call. "
            f"{_NO_RELATION_HINT}",
        )

    def _split_leading_ranges(
        self, query: SoqlQuery, schema: ObjectSchema, tooling: bool
    ) -> tuple[Condition | None, list[tuple[str, Any]]]:
        """Pull `Field > value`-style conjuncts on the first ascending ORDER BY field out.

        An incremental pull (`WHERE SystemModstamp > :watermark ORDER BY SystemModstamp, Id`)
        then costs a binary search on the cached sorted view instead of a scan.
        """
        where = query.where
        assert where is not None
        if not query.order_by or query.order_by[0].descending:
            return where, []
        lead = query.order_by[0].field
        if len(lead.parts) != 1:
            return where, []
        lead_field = schema.get(lead.parts[0])
        if lead_field is None or lead_field.type in TEXT_TYPES or lead_field.type == "boolean":
            return where, []
        conjuncts = (
            list(where.items) if isinstance(where, BoolOp) and where.op == "AND" else [where]
        )
        ranges: list[tuple[str, Any]] = []
        rest: list[Condition] = []
        for cond in conjuncts:
            if (
                isinstance(cond, Comparison)
                and cond.op in _RANGE_OPS
                and len(cond.field.parts) == 1
                and cond.field.parts[0].lower() == lead_field.name.lower()
                and isinstance(cond.value, Literal)
                and cond.value.kind in ("number", "date", "datetime")
            ):
                value = self._value(query, lead_field, cond.value, cond.op)
                if value is not None:
                    ranges.append((cond.op, value))
                    continue
            rest.append(cond)
        if not ranges:
            return where, []
        if not rest:
            return None, ranges
        return (rest[0] if len(rest) == 1 else BoolOp("AND", tuple(rest))), ranges

    # -- fields ---------------------------------------------------------------------------

    def resolve(
        self, query: SoqlQuery, schema: ObjectSchema, path: FieldPath, *, tooling: bool
    ) -> ResolvedField:
        tables = self.store.tooling_tables if tooling else self.store.tables
        current = schema
        hops: list[tuple[str, str, str]] = []  # (reference field, target object, rel name)
        for part in path.parts[:-1]:
            reference = current.relationship(part)
            if reference is None or not reference.reference_to:
                raise _error(
                    query,
                    "INVALID_FIELD",
                    path.column,
                    f"Didn't understand relationship '{part}' in field path. {_NO_RELATION_HINT}",
                )
            target = self.store.schema.get(reference.reference_to[0], tooling=tooling)
            if target is None:  # pragma: no cover - schema references known objects only
                raise _error(query, "INVALID_FIELD", path.column, f"unknown object {part}")
            hops.append((reference.name, target.name, reference.relationship_name or part))
            current = target
        field_def = current.get(path.parts[-1])
        if field_def is not None and not tooling:
            # A field hidden by field-level security is "No such column" (field_access).
            field_def = (
                field_def if self.store.field_access.can_read(current.name, field_def) else None
            )
        if field_def is None:
            shown = path.text if len(path.parts) == 1 else path.parts[-1]
            raise _error(
                query,
                "INVALID_FIELD",
                path.column,
                f"No such column '{shown}' on entity '{current.name}'. {_NO_COLUMN_HINT}",
            )
        name = field_def.name
        getter: Getter
        if not hops:

            def getter(record: Record, _name: str = name) -> Any:
                return record.get(_name)

        else:
            steps = [(ref, tables[target.lower()]) for ref, target, _ in hops]

            def getter(record: Record, _steps: Any = steps, _name: str = name) -> Any:
                current_record: Record | None = record
                for ref, table in _steps:
                    key = current_record.get(ref) if current_record is not None else None
                    current_record = table.get(key) if key is not None else None
                    if current_record is None:
                        return None
                return current_record.get(_name) if current_record is not None else None

        return ResolvedField(path, field_def, getter, tuple((r, t) for _, t, r in hops))

    def _add_projection(self, node: ProjectionNode, resolved: ResolvedField) -> None:
        schema_get = self.store.schema.get
        current = node
        current_schema = schema_get(node.sobject) or schema_get(node.sobject, tooling=True)
        for rel_name, target in resolved.relationships:
            assert current_schema is not None
            reference = current_schema.relationship(rel_name)
            assert reference is not None
            canonical = reference.relationship_name or rel_name
            if canonical not in current.children:
                current.children[canonical] = (reference.name, ProjectionNode(target))
            current = current.children[canonical][1]
            current_schema = schema_get(target) or schema_get(target, tooling=True)
        name = resolved.field_def.name
        if all(existing != name for existing, _, _ in current.columns):
            current.columns.append((name, name, formatter(resolved.field_def)))

    # -- conditions -----------------------------------------------------------------------

    def _condition(
        self, query: SoqlQuery, schema: ObjectSchema, cond: Condition, tooling: bool
    ) -> Predicate:
        if isinstance(cond, BoolOp):
            parts = [self._condition(query, schema, item, tooling) for item in cond.items]
            if cond.op == "AND":
                return lambda r: all(p(r) for p in parts)
            return lambda r: any(p(r) for p in parts)
        if isinstance(cond, Not):
            inner = self._condition(query, schema, cond.item, tooling)
            return lambda r: not inner(r)
        return self._comparison(query, schema, cond, tooling)

    def _comparison(
        self, query: SoqlQuery, schema: ObjectSchema, cond: Comparison, tooling: bool
    ) -> Predicate:
        resolved = self.resolve(query, schema, cond.field, tooling=tooling)
        getter = resolved.getter
        field_def = resolved.field_def
        op = cond.op
        if op in ("IN", "NOT IN"):
            assert isinstance(cond.value, tuple)
            values = {self._value(query, field_def, v, op) for v in cond.value}
            if field_def.type in TEXT_TYPES:
                lowered = {v.lower() if isinstance(v, str) else v for v in values}

                def member(r: Record) -> bool:
                    value = getter(r)
                    return (value.lower() if isinstance(value, str) else value) in lowered

            else:

                def member(r: Record) -> bool:
                    return getter(r) in values

            return member if op == "IN" else (lambda r: not member(r))
        if op in ("INCLUDES", "EXCLUDES"):
            if field_def.type != "multipicklist":
                raise _error(
                    query,
                    "INVALID_FIELD",
                    cond.field.column,
                    f"{op} can only be used with multi-select picklist fields",
                )
            assert isinstance(cond.value, tuple)
            wanted = [
                frozenset(s.lower() for s in str(v.value).split(";") if s) for v in cond.value
            ]

            def includes(r: Record) -> bool:
                value = getter(r)
                chosen = {s.lower() for s in value.split(";")} if value else set()
                return any(w <= chosen for w in wanted)

            return includes if op == "INCLUDES" else (lambda r: not includes(r))
        assert isinstance(cond.value, Literal)
        literal = cond.value
        if op == "LIKE":
            if field_def.type not in TEXT_TYPES and field_def.type not in ("id", "reference"):
                raise _error(
                    query,
                    "INVALID_FIELD",
                    cond.field.column,
                    f"invalid operator on {field_def.type} field: LIKE",
                )
            pattern = _like_regex(str(literal.value))
            return lambda r: (v := getter(r)) is not None and pattern.fullmatch(v) is not None
        if literal.kind == "date_literal":
            return self._date_literal(query, field_def, getter, op, literal)
        value = self._value(query, field_def, literal, op)
        if value is None:
            if op == "=":
                return lambda r: getter(r) is None
            if op == "!=":
                return lambda r: getter(r) is not None
            raise _error(
                query, "MALFORMED_QUERY", literal.column, "null can only be compared with = or !="
            )
        if field_def.type in TEXT_TYPES:
            text = str(value).lower()
            return _text_compare(getter, op, text)
        return _compare(getter, op, value)

    def _value(self, query: SoqlQuery, field_def: FieldDef, literal: Literal, op: str) -> Any:
        kind = literal.kind
        if kind == "null":
            return None
        ftype = field_def.type
        wanted: str
        if ftype in TEXT_TYPES:
            if kind == "string":
                return literal.value
            wanted = "string"
        elif ftype in ("id", "reference"):
            if kind == "string":
                normalized = normalize_id(literal.value)
                if normalized is None:
                    raise _error(
                        query,
                        "INVALID_QUERY_FILTER_OPERATOR",
                        literal.column,
                        f"invalid ID field: {literal.value}",
                    )
                return normalized
            wanted = "id"
        elif ftype == "boolean":
            if kind == "boolean":
                return literal.value
            wanted = "boolean"
        elif ftype in ("currency", "double", "percent", "int"):
            if kind == "number":
                return literal.value if ftype != "int" else _int_or_decimal(literal.value)
            wanted = "number"
        elif ftype == "date":
            if kind == "date":
                return parse_date(literal.value)
            wanted = "date"
        elif ftype == "datetime":
            if kind == "datetime":
                return parse_datetime(literal.value)
            wanted = "dateTime"
        else:
            wanted = ftype
        # Guessed code: Salesforce reports literal type mismatches with this text.
        raise _error(
            query,
            "INVALID_FIELD",
            literal.column,
            f"value of filter criterion for field '{field_def.name}' must be of type {wanted} "
            "and should not be enclosed in quotes"
            if kind == "string"
            else f"value of filter criterion for field '{field_def.name}' must be of type {wanted}",
        )

    def _date_literal(
        self, query: SoqlQuery, field_def: FieldDef, getter: Getter, op: str, literal: Literal
    ) -> Predicate:
        if field_def.type not in ("date", "datetime"):
            raise _error(
                query,
                "INVALID_FIELD",
                literal.column,
                f"value of filter criterion for field '{field_def.name}' must be of "
                f"type {field_def.type}",
            )
        name, count = literal.value
        today = self.today()
        start_day, end_day = {
            "TODAY": (today, today + dt.timedelta(days=1)),
            "YESTERDAY": (today - dt.timedelta(days=1), today),
            "TOMORROW": (today + dt.timedelta(days=1), today + dt.timedelta(days=2)),
            "LAST_N_DAYS": (today - dt.timedelta(days=count), today + dt.timedelta(days=1)),
            "NEXT_N_DAYS": (today + dt.timedelta(days=1), today + dt.timedelta(days=count + 1)),
        }[name]
        start: Any = start_day
        end: Any = end_day
        if field_def.type == "datetime":
            # The org's time zone is taken to be UTC (guess; real orgs use their own).
            start = dt.datetime.combine(start_day, dt.time(), dt.UTC)
            end = dt.datetime.combine(end_day, dt.time(), dt.UTC)

        def within(r: Record) -> bool:
            v = getter(r)
            return v is not None and start <= v < end

        ranged: dict[str, Predicate] = {
            "=": within,
            "!=": lambda r: not within(r),
            "<": lambda r: (v := getter(r)) is not None and v < start,
            "<=": lambda r: (v := getter(r)) is not None and v < end,
            ">": lambda r: (v := getter(r)) is not None and v >= end,
            ">=": lambda r: (v := getter(r)) is not None and v >= start,
        }
        return ranged[op]


def _int_or_decimal(value: Decimal) -> int | Decimal:
    return int(value) if value == value.to_integral_value() else value


def _compare(getter: Getter, op: str, value: Any) -> Predicate:
    if op == "=":
        return lambda r: getter(r) == value
    if op == "!=":
        return lambda r: getter(r) != value
    if op == "<":
        return lambda r: (v := getter(r)) is not None and v < value
    if op == "<=":
        return lambda r: (v := getter(r)) is not None and v <= value
    if op == ">":
        return lambda r: (v := getter(r)) is not None and v > value
    return lambda r: (v := getter(r)) is not None and v >= value


def _text_compare(getter: Getter, op: str, text: str) -> Predicate:
    def lowered(r: Record) -> str | None:
        v = getter(r)
        return v.lower() if isinstance(v, str) else None

    if op == "=":
        return lambda r: lowered(r) == text
    if op == "!=":
        return lambda r: lowered(r) != text
    if op == "<":
        return lambda r: (v := lowered(r)) is not None and v < text
    if op == "<=":
        return lambda r: (v := lowered(r)) is not None and v <= text
    if op == ">":
        return lambda r: (v := lowered(r)) is not None and v > text
    return lambda r: (v := lowered(r)) is not None and v >= text


def _like_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _id_lookup(where: Condition | None) -> list[str] | None:
    if where is None:
        return None
    conjuncts = list(where.items) if isinstance(where, BoolOp) and where.op == "AND" else [where]
    for cond in conjuncts:
        if not (
            isinstance(cond, Comparison)
            and cond.op in ("=", "IN")
            and len(cond.field.parts) == 1
            and cond.field.parts[0].lower() == "id"
        ):
            continue
        literals = cond.value if isinstance(cond.value, tuple) else (cond.value,)
        ids = [normalize_id(str(v.value)) for v in literals if v.kind == "string"]
        return [i for i in ids if i is not None]
    return None
