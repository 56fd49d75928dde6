"""`POST /crm/v3/objects/{type}/search`: filter groups, filters, sorts and their limits.

Documented limits (issue 3, after HubSpot's search guide): at most 5 filter groups, 6
filters per group, 18 filters in all, one sort, `limit` at most 200 (default 10), and no
paging past 10,000 results (400). Groups are ORed, filters in a group ANDed.

Guessed, not documented: the wording of validation messages; NEQ and NOT_IN also match
records without a value; records without a value sort last; ties sort by id; `query`
matches when every word appears in one of the object's default searchable properties;
a filter on an unknown property is a 400.
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from operator import ge as operator_ge
from operator import gt as operator_gt
from operator import le as operator_le
from operator import lt as operator_lt
from typing import Any

from kam_sync.sandbox.hubspot.errors import validation_error
from kam_sync.sandbox.hubspot.properties import PropertyDefinition, epoch_millis, parse_datetime
from kam_sync.sandbox.hubspot.store import CrmRecord, ObjectTable

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS_TOTAL = 18
MAX_SORTS = 1
MAX_SEARCH_LIMIT = 200
DEFAULT_SEARCH_LIMIT = 10
MAX_SEARCH_RESULTS = 10_000

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
SEARCHABLE_TEXT = {"companies": ("name", "domain"), "deals": ("dealname",)}
_TOKEN_SPLIT = re.compile(r"[^\w@.*-]+")

Predicate = Callable[[CrmRecord], bool]
# Properties every record has, read straight from the record (never None).
STAMP_ATTRIBUTES = {
    "hs_lastmodifieddate": "updated_ms",
    "createdate": "created_ms",
    "hs_object_id": "id",
}
_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "LT": operator_lt,
    "LTE": operator_le,
    "GT": operator_gt,
    "GTE": operator_ge,
}
SortKey = Any


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """A checked search request."""

    groups: list[list[Predicate]]
    sort_property: str | None
    descending: bool
    query: str | None
    limit: int
    after: int
    properties: list[str] | None
    matching_key: str  # what decides the matches and their order (not paging)


def plan_search(table: ObjectTable, body: object) -> SearchPlan:
    """Check a search body against the documented limits; raises a 400 `HttpError`."""
    if not isinstance(body, Mapping):
        raise validation_error("Invalid input JSON: the search body must be an object.")
    raw_groups = body.get("filterGroups") or []
    if not isinstance(raw_groups, list):
        raise validation_error("filterGroups must be an array.")
    if len(raw_groups) > MAX_FILTER_GROUPS:
        raise validation_error(
            f"Too many filter groups: {len(raw_groups)}; at most {MAX_FILTER_GROUPS} are allowed."
        )
    total = 0
    groups: list[list[Predicate]] = []
    for raw_group in raw_groups:
        filters = raw_group.get("filters") if isinstance(raw_group, Mapping) else None
        if not isinstance(filters, list):
            raise validation_error("Each filter group needs a filters array.")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(
                f"Too many filters in a filter group: {len(filters)}; at most "
                f"{MAX_FILTERS_PER_GROUP} are allowed."
            )
        total += len(filters)
        groups.append([_compile_filter(table, f) for f in filters])
    if total > MAX_FILTERS_TOTAL:
        raise validation_error(
            f"Too many filters: {total}; at most {MAX_FILTERS_TOTAL} are allowed in all groups."
        )
    sort_property, descending = _sort(table, body.get("sorts") or [])
    limit = _int_field(body.get("limit"), "limit", DEFAULT_SEARCH_LIMIT)
    if limit < 1 or limit > MAX_SEARCH_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_SEARCH_LIMIT}, got {limit}.")
    after = _int_field(body.get("after"), "after", 0)
    if after < 0:
        raise validation_error(f"after must be >= 0, got {after}.")
    if after >= MAX_SEARCH_RESULTS:
        raise validation_error(
            f"The search endpoints return at most {MAX_SEARCH_RESULTS} results for a query; "
            f"paging past them (after={after}) is not allowed.",
            context={"after": [str(after)]},
        )
    properties = body.get("properties")
    if properties is not None and not (
        isinstance(properties, list) and all(isinstance(p, str) for p in properties)
    ):
        raise validation_error("properties must be an array of property names.")
    query = body.get("query")
    matching = {k: body.get(k) for k in ("filterGroups", "sorts", "query")}
    return SearchPlan(
        groups=groups,
        sort_property=sort_property,
        descending=descending,
        query=str(query) if query else None,
        limit=limit,
        after=after,
        properties=properties,
        matching_key=f"{table.object_type}:{json.dumps(matching, sort_keys=True, default=str)}",
    )


class SearchCache:
    """The last few searches' ordered matches, valid while the store's version holds.

    Paging re-sends the same filters with another `after`; evaluating them once per query
    instead of once per page keeps a 10,000-result read fast on a 500,000-deal portal.
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[int, list[CrmRecord]]] = OrderedDict()

    def get(self, key: str, version: int) -> list[CrmRecord] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, version: int, matches: list[CrmRecord]) -> None:
        with self._lock:
            self._entries[key] = (version, matches)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def run_search(
    table: ObjectTable,
    plan: SearchPlan,
    *,
    cache: SearchCache | None = None,
    version: int = 0,
    unindexed: frozenset[int] = frozenset(),
) -> tuple[int, list[CrmRecord], int | None]:
    """The total match count, this page's records and the next `after` (or None); records
    in ``unindexed`` (written too recently, see ``HubSpotStore.search_lag_seconds``) are not
    found yet."""
    cached = cache is not None and not unindexed
    matches = cache.get(plan.matching_key, version) if cache is not None and cached else None
    if matches is None:
        match = _combined(table, plan)
        records = table.records
        matches = [
            record
            for record in (records[i] for i in table.ids)
            if record.archived_at is None and record.id not in unindexed and match(record)
        ]
        if plan.sort_property is not None:
            matches = _sorted(table, matches, plan.sort_property, plan.descending)
        if cache is not None and cached:
            cache.put(plan.matching_key, version, matches)
    total = len(matches)
    end = min(plan.after + plan.limit, total, MAX_SEARCH_RESULTS)
    page = matches[plan.after : end]
    # At the cap the response still offers a next page, whose request then fails with 400,
    # as clients paging through a large result set experience it.
    next_after = end if end < total else None
    return total, page, next_after


def _combined(table: ObjectTable, plan: SearchPlan) -> Predicate:
    """One predicate for the whole request: groups ORed, filters ANDed, `query` ANDed."""
    groups = [g for g in plan.groups if g]  # a group without filters restricts nothing
    if not groups:
        grouped: Predicate = lambda r: True  # noqa: E731
    elif len(groups) == 1 and len(groups[0]) == 1:
        grouped = groups[0][0]
    elif len(groups) == 1:
        only = groups[0]
        grouped = lambda r: all(p(r) for p in only)  # noqa: E731
    else:
        grouped = lambda r: any(all(p(r) for p in g) for g in groups)  # noqa: E731
    query = plan.query
    if query is None:
        return grouped
    return lambda r: grouped(r) and _query_matches(table, query, r)


def _query_matches(table: ObjectTable, query: str, record: CrmRecord) -> bool:
    texts = [
        (table.value(record, name) or "").lower()
        for name in SEARCHABLE_TEXT.get(table.object_type, ())
    ]
    return all(any(word in text for text in texts) for word in query.lower().split())


def _sorted(
    table: ObjectTable, records: list[CrmRecord], name: str, descending: bool
) -> list[CrmRecord]:
    definition = table.registry.get(name)
    if definition is None:
        return records
    if name in STAMP_ATTRIBUTES:
        # `records` come in id order and the sort is stable, so ties stay in id order.
        return sorted(records, key=attrgetter(STAMP_ATTRIBUTES[name]), reverse=descending)
    key_of = key_getter(table, definition)
    present: list[tuple[Any, int, CrmRecord]] = []
    missing: list[CrmRecord] = []
    for record in records:
        key = key_of(record)
        if key is None:
            missing.append(record)
        else:
            present.append((key, record.id, record))
    # Python's sort is stable (also with reverse=True), so ties stay in id order.
    present.sort(key=lambda item: item[1])
    present.sort(key=lambda item: item[0], reverse=descending)
    return [item[2] for item in present] + missing


def _sort(table: ObjectTable, raw_sorts: object) -> tuple[str | None, bool]:
    if not isinstance(raw_sorts, list):
        raise validation_error("sorts must be an array.")
    if len(raw_sorts) > MAX_SORTS:
        raise validation_error(f"Too many sorts: {len(raw_sorts)}; at most {MAX_SORTS} is allowed.")
    if not raw_sorts:
        return None, False
    raw = raw_sorts[0]
    if isinstance(raw, str):
        # The SDK types sorts as strings; a bare name sorts ascending.
        name, direction = raw, "ASCENDING"
    elif isinstance(raw, Mapping):
        name = str(raw.get("propertyName") or "")
        direction = str(raw.get("direction") or "ASCENDING").upper()
    else:
        raise validation_error("Each sort needs a propertyName and a direction.")
    if direction not in ("ASCENDING", "DESCENDING"):
        raise validation_error(f"Sort direction must be ASCENDING or DESCENDING, got {direction}.")
    if table.registry.get(name) is None:
        raise validation_error(f"Cannot sort by unknown property {name!r}.")
    return name, direction == "DESCENDING"


def _int_field(raw: object, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise validation_error(f"{name} must be a whole number, got {raw!r}.") from None


def _compile_filter(table: ObjectTable, raw: object) -> Predicate:
    if not isinstance(raw, Mapping):
        raise validation_error("Each filter must be an object.")
    name = raw.get("propertyName")
    operator = str(raw.get("operator") or "EQ").upper()
    if operator not in OPERATORS:
        raise validation_error(f"Unknown filter operator {operator!r}.")
    definition = table.registry.get(str(name)) if name else None
    if definition is None:
        raise validation_error(f"Cannot filter on unknown property {name!r}.")
    prop = definition.name
    value_of = table.value
    key_of = key_getter(table, definition)
    if operator == "HAS_PROPERTY":
        return lambda r: value_of(r, prop) is not None
    if operator == "NOT_HAS_PROPERTY":
        return lambda r: value_of(r, prop) is None
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(raw.get("value") or "").lower()
        wanted = operator == "CONTAINS_TOKEN"
        return lambda r: _has_token(value_of(r, prop), token) == wanted
    multi = definition.type == "enumeration" and definition.field_type == "checkbox"
    if operator in ("IN", "NOT_IN"):
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise validation_error(f"The {operator} operator needs a non-empty values array.")
        keys = {_required_key(definition, v) for v in values}
        inside = operator == "IN"
        if multi:
            return lambda r: _any_option(value_of(r, prop), keys) == inside
        return lambda r: (key_of(r) in keys) == inside
    target = _required_key(definition, raw.get("value"))
    if operator in ("EQ", "NEQ"):
        equal = operator == "EQ"
        if multi:
            return lambda r: _any_option(value_of(r, prop), {target}) == equal
        return lambda r: (key_of(r) == target) == equal
    if operator == "BETWEEN":
        high = _required_key(definition, raw.get("highValue"))
        return lambda r: (k := key_of(r)) is not None and target <= k <= high
    compare = _ORDERINGS[operator]
    if prop in STAMP_ATTRIBUTES:
        return lambda r: compare(key_of(r), target)  # stamps are never missing
    return lambda r: (k := key_of(r)) is not None and compare(k, target)


def key_getter(table: ObjectTable, definition: PropertyDefinition) -> Callable[[CrmRecord], Any]:
    """A record's value of this property in comparable form (None when it has none).

    The record stamps and the id are read straight from the record: filtering 500,000
    deals on `hs_lastmodifieddate` must not format and re-parse 500,000 timestamps.
    """
    name = definition.name
    if name in STAMP_ATTRIBUTES:
        return attrgetter(STAMP_ATTRIBUTES[name])
    value_of = table.value

    def key_of(record: CrmRecord) -> Any:
        raw = value_of(record, name)
        return None if raw is None else _comparable(definition, raw)

    return key_of


def _any_option(raw: str | None, keys: set[Any]) -> bool:
    return raw is not None and any(part.lower() in keys for part in raw.split(";"))


def _has_token(raw: str | None, token: str) -> bool:
    if raw is None:
        return False
    words = [w for w in _TOKEN_SPLIT.split(raw.lower()) if w]
    if "*" in token:
        return any(fnmatch.fnmatchcase(w, token) for w in words)
    return token in words


def _required_key(definition: PropertyDefinition, raw: object) -> Any:
    if raw is None:
        raise validation_error(f"The filter on {definition.name} needs a value.")
    key = _comparable(definition, str(raw).lower() if isinstance(raw, bool) else str(raw))
    if key is None:
        raise validation_error(f"{raw!r} is not a valid value to compare {definition.name} with.")
    return key


def _comparable(definition: PropertyDefinition, raw: str) -> Any:
    """Values of one property compared as HubSpot does: numbers, instants or lowercase text."""
    kind = definition.type
    if kind == "number":
        try:
            return Decimal(raw)
        except InvalidOperation:
            return None
    if kind in ("date", "datetime"):
        moment = parse_datetime(raw)
        return None if moment is None else epoch_millis(moment)
    return raw.lower()


# Object responses carry these whatever was asked for (see the documented response examples,
# e.g. `GET /crm/v3/objects/companies?properties=name`).
ALWAYS_RETURNED = ("createdate", "hs_lastmodifieddate", "hs_object_id")


def page_properties(requested: Sequence[str] | None, defaults: Sequence[str]) -> list[str]:
    """The properties a response carries: the requested ones (plus the record stamps and
    id), or the object's defaults."""
    if not requested:
        return list(defaults)
    return list(dict.fromkeys([*requested, *ALWAYS_RETURNED]))
