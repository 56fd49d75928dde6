"""Mapping files (``mappings/*.yaml``): CRM fields <-> canonical fields, value maps, the record
filter, and the write-back targets, which are the allow-list of everything kam-sync may write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kam_sync import canonical
from kam_sync.config.conditions import ConditionError, check_condition
from kam_sync.config.located import Loc
from kam_sync.config.suggest import did_you_mean
from kam_sync_connectors import registry
from kam_sync_connectors.base import CustomFieldType

# The mapping's write-back types are the field types connectors know how to create.
WriteBackType = CustomFieldType
ENUMERATED_TYPES = ("picklist", "multipicklist")

# The canonical kind each write-back target holds, and the CRM types that can hold it.
_COMPATIBLE_TYPES: dict[str, tuple[str, ...]] = {
    "kam_tier": ("picklist", "text"),
    "kam_classification": ("picklist", "text"),
    "kam_score": ("number", "percent"),
    "kam_score_explanation": ("longtext", "text"),
    "kam_plan_stage": ("picklist", "text"),
    "kam_checklist_completion": ("percent", "number"),
    "kam_checklist_gaps": ("longtext", "text"),
    "kam_flags": ("multipicklist", "longtext", "text"),
    "kam_last_assessed": ("datetime",),
}


# The columns a record filter may use: the object's canonical fields.
FILTER_SCHEMAS = {
    "account": canonical.ACCOUNT_SCHEMA,
    "opportunity": canonical.OPPORTUNITY_SCHEMA,
}


class FieldMapping(BaseModel):
    """One canonical field read from one CRM field."""

    model_config = ConfigDict(extra="forbid")

    crm: str = Field(min_length=1, description="the CRM field name (API name / property name)")
    value_map: dict[str, str] | None = Field(
        default=None, description="CRM value -> canonical value (picklists)"
    )
    scale: float | None = Field(
        default=None,
        gt=0,
        description="multiply a numeric value by this factor (100 turns a 0..1 share into percent)",
    )
    unmapped: Literal["error", "empty", "keep"] | None = Field(
        default=None,
        description="what to do with a CRM value missing from value_map: quarantine the record "
        "(error, the default for closed value sets), treat it as empty, or keep it as is",
    )

    @field_validator("value_map", mode="before")
    @classmethod
    def _stringify_keys(cls, value: Any) -> Any:
        # YAML reads `Yes: true` or `1: low` with non-string keys/values; CRM values are text.
        if isinstance(value, dict):
            return {
                str(k): v if not isinstance(v, bool | int | float) else str(v)
                for k, v in value.items()
            }
        return value


class ObjectMapping(BaseModel):
    """A CRM object mapped onto a canonical object."""

    model_config = ConfigDict(extra="forbid")

    crm_object: str = Field(min_length=1, description="e.g. Account, Opportunity, companies, deals")
    fields: dict[str, FieldMapping | str] = Field(
        description="canonical field -> CRM field (a name, or a mapping with crm/value_map)"
    )
    filter: str | None = Field(
        default=None,
        description="SQL boolean condition over canonical fields: which records are in scope",
    )

    def field_mappings(self) -> dict[str, FieldMapping]:
        return {
            name: FieldMapping(crm=spec) if isinstance(spec, str) else spec
            for name, spec in self.fields.items()
        }


class ObjectsSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: ObjectMapping = Field(description="the CRM object read as canonical accounts")
    opportunity: ObjectMapping = Field(description="the CRM object read as canonical opportunities")


class WriteBackTarget(BaseModel):
    """A CRM field kam-sync writes one KAM output into."""

    model_config = ConfigDict(extra="forbid")

    crm: str = Field(min_length=1, description="the CRM field (API name / property name)")
    type: WriteBackType = Field(
        description="the field's type: picklist, multipicklist, number, percent, text, "
        "longtext, date, datetime or checkbox"
    )
    label: str | None = Field(default=None, description="the field's label (provision)")
    length: int | None = Field(
        default=None, ge=1, le=131_072, description="text length in characters (provision)"
    )
    precision: int | None = Field(
        default=None, ge=1, le=18, description="number: digits in all (provision)"
    )
    scale: int | None = Field(
        default=None, ge=0, le=17, description="number: digits after the point (provision)"
    )
    values: dict[str, str] | None = Field(
        default=None, description="canonical value -> CRM picklist value (picklist types only)"
    )
    overwrite_manual_edits: bool | None = Field(
        default=None,
        description="overwrite a value a person changed in the CRM since kam-sync wrote it "
        "(default: the project's sync.overwrite_manual_edits)",
    )
    owned_by_kam_sync: bool = Field(
        default=False,
        description="the CRM field is kam-sync's although `kam-sync provision` did not create it "
        "(a custom field your admin made for kam-sync alone); without this, runs write only to "
        "fields kam-sync provisioned, and never to a standard field",
    )


class MappingFile(BaseModel):
    """The whole mapping file."""

    model_config = ConfigDict(extra="forbid")

    crm: str = Field(description="the CRM this mapping is for: a CRM of the connector registry")
    objects: ObjectsSection = Field(description="the CRM objects read: account and opportunity")
    write_back: dict[str, WriteBackTarget] = Field(
        description="KAM output -> CRM field; the allow-list of everything kam-sync may write"
    )

    @field_validator("crm")
    @classmethod
    def _registered_crm(cls, value: str) -> str:
        known = registry.crm_names()
        if value not in known:
            listing = " or ".join(f"'{name}'" for name in known)
            raise ValueError(f"must be {listing}, got '{value}'{did_you_mean(value, known)}")
        return value

    def semantic_issues(self) -> list[tuple[Loc, str]]:
        """Checks across fields: canonical names, value maps, the filter, the allow-list."""
        found: list[tuple[Loc, str]] = []
        for obj_name in ("account", "opportunity"):
            obj: ObjectMapping = getattr(self.objects, obj_name)
            found.extend(_object_issues(obj_name, obj))
        found.extend(self._write_back_issues())
        return found

    def _write_back_issues(self) -> list[tuple[Loc, str]]:
        found: list[tuple[Loc, str]] = []
        allowed = canonical.KAM_OUTPUT_FIELDS
        input_crm = {m.crm: name for name, m in self.objects.account.field_mappings().items()}
        seen_crm: dict[str, str] = {}
        for name, target in self.write_back.items():
            loc: Loc = ("write_back", name)
            if name not in allowed:
                found.append(
                    (
                        loc,
                        f"'{name}' cannot be written back{did_you_mean(name, allowed)}; "
                        f"kam-sync writes only its outputs: {', '.join(allowed)}",
                    )
                )
                continue
            if target.type not in _COMPATIBLE_TYPES[name]:
                found.append(
                    (
                        (*loc, "type"),
                        f"type '{target.type}' cannot hold {name} "
                        f"(allowed: {', '.join(_COMPATIBLE_TYPES[name])})",
                    )
                )
            if target.crm in input_crm:
                found.append(
                    (
                        (*loc, "crm"),
                        f"CRM field '{target.crm}' is also read as input '{input_crm[target.crm]}'; "
                        "kam-sync would overwrite its own input",
                    )
                )
            if target.crm in seen_crm:
                found.append(
                    (
                        (*loc, "crm"),
                        f"CRM field '{target.crm}' is already the target of '{seen_crm[target.crm]}'",
                    )
                )
            seen_crm.setdefault(target.crm, name)
            found.extend(_target_values_issues(name, target, loc))
        return found

    def account_crm_fields(self) -> list[str]:
        """CRM fields to pull for accounts: the mapped inputs and the current KAM outputs."""
        names = [m.crm for m in self.objects.account.field_mappings().values()]
        names += [t.crm for t in self.write_back.values()]
        return list(dict.fromkeys(names))


def _object_issues(obj_name: str, obj: ObjectMapping) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    known = canonical.OBJECT_FIELDS[obj_name]
    base: Loc = ("objects", obj_name)
    mappings = obj.field_mappings()
    for name, spec in mappings.items():
        loc: Loc = (*base, "fields", name)
        if name in canonical.KAM_OUTPUT_FIELDS:
            found.append(
                (loc, f"'{name}' is a KAM output; declare it under write_back, not as an input")
            )
            continue
        if name not in known:
            inputs = [n for n in known if n not in canonical.KAM_OUTPUT_FIELDS]
            found.append(
                (loc, f"unknown canonical {obj_name} field '{name}'{did_you_mean(name, inputs)}")
            )
            continue
        if spec.scale is not None and known[name] not in (
            canonical.FieldKind.NUMBER,
            canonical.FieldKind.MONEY,
            canonical.FieldKind.INTEGER,
        ):
            found.append(
                (
                    (*loc, "scale"),
                    f"scale only applies to numeric fields; '{name}' is {known[name].value}",
                )
            )
        allowed = canonical.ENUMERATIONS.get(name)
        if spec.value_map and allowed is not None:
            for crm_value, canon_value in spec.value_map.items():
                if canon_value not in allowed:
                    found.append(
                        (
                            (*loc, "value_map", crm_value),
                            f"value map sends '{crm_value}' to unknown {name} value "
                            f"'{canon_value}'{did_you_mean(canon_value, allowed)} "
                            f"(allowed: {', '.join(allowed)})",
                        )
                    )
    for required in canonical.REQUIRED_FIELDS[obj_name]:
        if required not in mappings:
            found.append(
                ((*base, "fields"), f"{obj_name} mapping lacks required field '{required}'")
            )
    if obj.filter is not None:
        found += record_filter_issues(obj.filter, FILTER_SCHEMAS[obj_name], (*base, "filter"))
    return found


def record_filter_issues(
    text: str, columns: Mapping[str, pl.DataType], where: Loc
) -> list[tuple[Loc, str]]:
    """Every problem of a record filter over ``columns``: allow-list, names, types, samples.

    One check for every object's filter; closed value sets come from the canonical model.
    """
    try:
        check_condition(text, columns, allowed=canonical.ENUMERATIONS)
    except ConditionError as exc:
        return [(where, f"filter: {problem}") for problem in exc.problems]
    return []


def _target_values_issues(name: str, target: WriteBackTarget, loc: Loc) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    produced = canonical.ENUMERATIONS.get(name)
    if target.type in ENUMERATED_TYPES:
        if not target.values:
            found.append(
                (loc, f"a {target.type} target needs 'values' (canonical value -> CRM value)")
            )
            return found
        if produced is not None:
            for canon_value in target.values:
                if canon_value not in produced:
                    found.append(
                        (
                            (*loc, "values", canon_value),
                            f"'{canon_value}' is not a {name} value{did_you_mean(canon_value, produced)} "
                            f"(allowed: {', '.join(produced)})",
                        )
                    )
            missing = [v for v in produced if v not in target.values]
            if missing:
                found.append(
                    (
                        (*loc, "values"),
                        f"values lack {', '.join(missing)}: the rules can produce them and the "
                        "write would be refused",
                    )
                )
    elif target.values:
        found.append(
            ((*loc, "values"), f"'values' only applies to picklist types, not {target.type}")
        )
    return found
