"""Raw CRM record -> canonical record, through one object's mapping.

Normalizing never raises for bad data: a record that cannot be normalized comes back as a
``RecordError`` naming the record id, the field and the reason, to be quarantined while the rest
of the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kam_sync import canonical
from kam_sync.canonical import ID_MAX_LENGTH, INTEGER_LIMIT, MONEY_INTEGER_DIGITS, FieldKind
from kam_sync.config.mapping import FieldMapping, ObjectMapping, WriteBackTarget
from kam_sync.errors import RecordError
from kam_sync.mapping.coerce import COERCERS

CanonicalRecord = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    name: str
    crm: str
    kind: FieldKind
    coerce: Callable[[Any], Any]
    is_list: bool
    value_map: dict[str, str] | None
    unmapped: str  # error | empty | keep
    required: bool
    scale: float | None
    needs_mapping: bool  # a value map, or a closed set of canonical values to check


class Normalizer:
    """Normalizes raw records of one canonical object (``account`` or ``opportunity``)."""

    def __init__(
        self,
        object_name: str,
        mapping: ObjectMapping,
        write_back: dict[str, WriteBackTarget] | None = None,
    ) -> None:
        self.object_name = object_name
        kinds = canonical.OBJECT_FIELDS[object_name]
        required = set(canonical.REQUIRED_FIELDS[object_name])
        plans: list[_FieldPlan] = []
        for name, spec in mapping.field_mappings().items():
            plans.append(self._plan(name, spec, kinds[name], name in required))
        # The KAM outputs as the CRM holds them now, read back through the reverse value map so
        # the diff compares canonical with canonical.
        for name, target in (write_back or {}).items():
            reverse = {crm: canon for canon, crm in (target.values or {}).items()} or None
            spec = FieldMapping(crm=target.crm, value_map=reverse, unmapped="keep")
            plans.append(self._plan(name, spec, kinds[name], False))
        self._plans = tuple(plans)
        self._required = tuple(p for p in plans if p.required)
        self._id_crm = next(p.crm for p in plans if p.name == "id")
        self._empty: CanonicalRecord = dict.fromkeys(kinds)
        self._list_fields = tuple(n for n, k in kinds.items() if k is FieldKind.TEXT_LIST)

    @staticmethod
    def _plan(name: str, spec: FieldMapping, kind: FieldKind, required: bool) -> _FieldPlan:
        closed = name in canonical.ENUMERATIONS
        unmapped = spec.unmapped or ("error" if closed else "keep")
        return _FieldPlan(
            name=name,
            crm=spec.crm,
            kind=kind,
            coerce=COERCERS[kind],
            is_list=kind is FieldKind.TEXT_LIST,
            value_map=spec.value_map,
            unmapped=unmapped,
            required=required,
            scale=spec.scale,
            needs_mapping=spec.value_map is not None or closed,
        )

    def normalize(self, raw: dict[str, Any]) -> CanonicalRecord | RecordError:
        """The canonical record, or the reason it cannot be one."""
        raw_id = raw.get(self._id_crm)
        record_id = str(raw_id) if raw_id not in (None, "") else None
        if record_id is not None and len(record_id) > ID_MAX_LENGTH:
            # Even the quarantine keys on the id: keep a recognisable, storable part of it.
            return RecordError(
                record_id[: ID_MAX_LENGTH - 3] + "...",
                f"{self._id_crm}: the id is longer than {ID_MAX_LENGTH} characters",
                field="id",
            )
        record: CanonicalRecord = dict(self._empty)
        for plan in self._plans:
            value = raw.get(plan.crm)
            if value is None or value == "":
                continue  # already None (or [] for lists) in the empty record
            try:
                value = plan.coerce(value)
                if plan.needs_mapping:
                    value = self._apply_value_map(plan, value)
                if plan.scale is not None and value is not None:
                    value = value * (
                        Decimal(str(plan.scale)) if isinstance(value, Decimal) else plan.scale
                    )
                _check_storable(plan.kind, value)
            except (ValueError, ArithmeticError) as exc:
                # ArithmeticError: a date-time near year 1 or 9999 moved to UTC overflows.
                return RecordError(record_id, f"{plan.crm}: {exc}", field=plan.name)
            record[plan.name] = value
        if record["is_deleted"] is None:
            record["is_deleted"] = False
        for name in self._list_fields:
            if record[name] is None:
                record[name] = []
        for plan in self._required:
            # A deleted record only has to say which record it was: CRMs drop relations of
            # archived records (HubSpot returns no associations for them).
            if record[plan.name] is None and (plan.name == "id" or not record["is_deleted"]):
                return RecordError(record_id, f"{plan.crm} is empty but required", field=plan.name)
        if self.object_name == "opportunity" and not record["is_deleted"]:
            return self._impossible_opportunity(record_id, record) or record
        return record

    def _impossible_opportunity(
        self, record_id: str | None, record: CanonicalRecord
    ) -> RecordError | None:
        """Data no real deal can have, whatever the run's date: set aside rather than scored.

        A deal closed before it was created is not here: migrated orgs hold many such deals
        (created on import, closed years before), whose revenue is real; only their sales cycle
        is impossible, and the metrics leave it out.
        """
        amount = record.get("amount")
        if record.get("is_won") and amount is not None and amount < 0:
            crm = self._crm_name("amount")
            return RecordError(
                record_id, f"{crm}: a won deal with a negative amount", field="amount"
            )
        return None

    def _crm_name(self, name: str) -> str:
        return next((p.crm for p in self._plans if p.name == name), name)

    @staticmethod
    def _apply_value_map(plan: _FieldPlan, value: Any) -> Any:
        if value is None:
            return None
        allowed = canonical.ENUMERATIONS.get(plan.name)
        if plan.is_list:
            mapped = [_map_one(plan, v, allowed) for v in value]
            return [v for v in dict.fromkeys(mapped) if v is not None]
        return _map_one(plan, value, allowed)


def _check_storable(kind: FieldKind, value: Any) -> None:
    """Raise ``ValueError`` for a value the store or the rules engine cannot hold exactly.

    The reason names the limit, never the value: reasons are shown by `kam-sync status`.
    """
    if value is None:
        return
    if kind is FieldKind.MONEY and value.adjusted() >= MONEY_INTEGER_DIGITS:
        raise ValueError(
            f"the amount has more than {MONEY_INTEGER_DIGITS} digits before the decimal point, "
            "more than kam-sync keeps exactly"
        )
    if kind is FieldKind.INTEGER and abs(value) > INTEGER_LIMIT:
        raise ValueError(f"the number is beyond {INTEGER_LIMIT:,}, the largest kam-sync stores")
    if kind is FieldKind.ID and len(value) > ID_MAX_LENGTH:
        raise ValueError(f"the id is longer than {ID_MAX_LENGTH} characters")


def _map_one(plan: _FieldPlan, value: str, allowed: tuple[str, ...] | None) -> str | None:
    if plan.value_map is not None and value in plan.value_map:
        return plan.value_map[value]
    if allowed is not None and value in allowed:
        return value  # already a canonical value
    if plan.unmapped == "keep":
        return value
    if plan.unmapped == "empty":
        return None
    known = ", ".join(sorted(plan.value_map)) if plan.value_map else ", ".join(allowed or ())
    raise ValueError(f"value {value!r} is not in the value map (known: {known})")
