"""Property definitions: describing an object, and provisioning the write-back properties.

Provisioning is idempotent: the group (``kam`` by default) is created if missing; each property
is created if missing, gets its missing enumeration options added (existing options are kept,
never removed), and a property that exists with another type is reported, not changed (a
person decides; HubSpot may refuse a type change of a property holding values). A KAM input
(``spec.access == "read"``) that exists with another type is the portal's own and is kept;
`kam-sync validate` judges whether it can feed the input.

Checklist properties (``spec.exact_values``) follow the rule pack: each option's value is a
question id, its label the question text and its description the whole text. HubSpot allows
5,000 options per property and 3,000 characters per option, label, value and description
together (HubSpot Knowledge Base, "Property field types in HubSpot"); a label is shortened to fit.
A reworded question is relabelled and a removed one hidden (``hidden: true``: records keep the
value, nobody can pick it), so the next provision brings the options up to date.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hubspot.crm.properties.models import (
    OptionInput,
    PropertyCreate,
    PropertyGroupCreate,
    PropertyUpdate,
)

from kam_sync_connectors.base import (
    CustomFieldSpec,
    CustomFieldType,
    FieldDescription,
    ObjectDescription,
    ProvisionReport,
)
from kam_sync_connectors.hubspot.associations import ASSOCIATION_PREFIX
from kam_sync_connectors.hubspot.calls import ApiCaller
from kam_sync_connectors.hubspot.sdk import HubSpotSdk

# kam-sync's field types -> HubSpot (type, fieldType), per HubSpot's properties guide.
HUBSPOT_TYPES: dict[CustomFieldType, tuple[str, str]] = {
    "picklist": ("enumeration", "select"),
    "multipicklist": ("enumeration", "checkbox"),
    "number": ("number", "number"),
    "percent": ("number", "number"),
    "text": ("string", "text"),
    "longtext": ("string", "textarea"),
    "date": ("date", "date"),
    "datetime": ("datetime", "date"),
    "checkbox": ("bool", "booleancheckbox"),
}
BOOL_OPTIONS = (("true", "Yes"), ("false", "No"))
# HubSpot Knowledge Base, "Property field types in HubSpot": multiple checkboxes and dropdown
# selects hold up to 5,000 options, each up to 3,000 characters (label, value and description).
MAX_OPTIONS = 5000
OPTION_MAX_CHARACTERS = 3000

# Related pseudo-fields the connector fills (see associations.py), described so that
# `kam-sync validate` knows them.
PSEUDO_FIELDS: dict[str, tuple[FieldDescription, ...]] = {
    "deals": (
        FieldDescription(
            name=ASSOCIATION_PREFIX + "companies",
            label="Associated company",
            type="association",
            updateable=False,
        ),
    ),
    "companies": (
        FieldDescription(
            name=ASSOCIATION_PREFIX + "parent_company",
            label="Parent company",
            type="association",
            updateable=False,
        ),
    ),
}


def describe_from_body(
    object_type: str, body: Mapping[str, Any], *, group_name: str | None = None
) -> ObjectDescription:
    """An object's fields from ``GET /crm/v3/properties/{objectType}``; a custom property in
    ``group_name`` (the group ``provision`` puts its properties in) counts as provisioned."""
    fields: dict[str, FieldDescription] = {}
    for prop in body.get("results") or []:
        meta = prop.get("modificationMetadata") or {}
        read_only = bool(meta.get("readOnlyValue", False)) or bool(prop.get("calculated", False))
        custom = not bool(prop.get("hubspotDefined", False))
        fields[prop["name"]] = FieldDescription(
            name=prop["name"],
            label=str(prop.get("label") or prop["name"]),
            type=str(prop.get("type") or "string"),
            updateable=not read_only,
            custom=custom,
            provisioned=custom and group_name is not None and prop.get("groupName") == group_name,
            picklist_values=tuple(
                str(o["value"])
                for o in prop.get("options") or []
                if o.get("value") is not None and not o.get("hidden")
            ),
        )
    for pseudo in PSEUDO_FIELDS.get(object_type, ()):
        fields.setdefault(pseudo.name, pseudo)
    return ObjectDescription(name=object_type, fields=fields)


class PropertyService:
    """Reads and creates properties through the SDK, every call through the one caller."""

    def __init__(
        self,
        caller: ApiCaller,
        sdk: HubSpotSdk,
        *,
        group_name: str,
        group_label: str,
        max_options: int = MAX_OPTIONS,
        option_max_characters: int = OPTION_MAX_CHARACTERS,
    ) -> None:
        self.caller = caller
        self.sdk = sdk
        self.group_name = group_name
        self.group_label = group_label
        self.max_options = min(max_options, MAX_OPTIONS)
        self.option_max_characters = min(option_max_characters, OPTION_MAX_CHARACTERS)
        self._cache: dict[str, ObjectDescription] = {}

    def describe(self, object_type: str, *, fresh: bool = False) -> ObjectDescription:
        if fresh or object_type not in self._cache:
            body = self._all_properties(object_type, kind="describe")
            self._cache[object_type] = describe_from_body(
                object_type, body, group_name=self.group_name
            )
        return self._cache[object_type]

    def _all_properties(self, object_type: str, *, kind: str) -> dict[str, Any]:
        return self.caller.call(
            kind,
            f"read {object_type} properties",
            self.sdk.properties_core.get_all,
            object_type,
            archived=False,
        ).body

    def provision(self, specs: Sequence[CustomFieldSpec]) -> ProvisionReport:
        report = ProvisionReport()
        by_object: dict[str, list[CustomFieldSpec]] = {}
        for spec in specs:
            by_object.setdefault(spec.object_name, []).append(spec)
        for object_type, object_specs in by_object.items():
            self._ensure_group(object_type, report)
            existing = {
                p["name"]: p
                for p in self._all_properties(object_type, kind="provision").get("results") or []
            }
            for spec in object_specs:
                self._provision_one(object_type, spec, existing.get(spec.name), report)
            self._cache.pop(object_type, None)
            report.admin_steps.extend(self._admin_steps(object_type, object_specs))
        return report

    def _admin_steps(self, object_type: str, specs: Sequence[CustomFieldSpec]) -> list[str]:
        """What a super admin does so that people see the properties on the record."""
        inputs = [s.name for s in specs if s.access == "read"]
        outputs = [s.name for s in specs if s.access == "edit"]
        record = object_type.rstrip("s").replace("companie", "company")
        steps = [
            f"Show the group '{self.group_label}' on the {record} record: Settings > Objects > "
            f"{object_type.title()} > Record customization > the default view's 'About this "
            f"{record}' card (or a new card) > add the properties: "
            + ", ".join([*inputs, *outputs]),
        ]
        if outputs:
            steps.append(
                "Make kam-sync's results read-only for people (Enterprise: Settings > Properties "
                "> each property > 'Edit property settings' > field-level permissions 'View "
                "only'): " + ", ".join(outputs)
            )
        return steps

    def _ensure_group(self, object_type: str, report: ProvisionReport) -> None:
        body = self._call(
            "provision",
            f"read {object_type} property groups",
            self.sdk.properties_groups.get_all,
            object_type,
        )
        if any(g.get("name") == self.group_name for g in body.get("results") or []):
            return
        self._call(
            "provision",
            f"create {object_type} property group {self.group_name}",
            self.sdk.properties_groups.create,
            object_type,
            PropertyGroupCreate(name=self.group_name, label=self.group_label, display_order=-1),
        )
        report.created.append(f"{object_type} group {self.group_name}")

    def _provision_one(
        self,
        object_type: str,
        spec: CustomFieldSpec,
        current: Mapping[str, Any] | None,
        report: ProvisionReport,
    ) -> None:
        where = f"{object_type}.{spec.name}"
        hs_type, field_type = HUBSPOT_TYPES[spec.type]
        wanted = _options(spec, self.option_max_characters)
        if len(wanted) > self.max_options:
            report.problems.append(
                f"{where}: {len(wanted)} options, more than the {self.max_options} a property "
                "may hold (enumeration_max_options)"
            )
            return
        if current is None:
            self._call(
                "provision",
                f"create property {where}",
                self.sdk.properties_core.create,
                object_type,
                PropertyCreate(
                    name=spec.name,
                    label=spec.label,
                    type=hs_type,
                    field_type=field_type,
                    group_name=self.group_name,
                    description=spec.help_text or spec.description or None,
                    options=_option_inputs(wanted),
                ),
            )
            report.created.append(where)
            return
        kept = spec.access == "read"
        if current.get("type") != hs_type:
            if kept:
                report.unchanged.append(
                    f"{where} (the portal's own {current.get('type')} property)"
                )
                return
            report.problems.append(
                f"{where} is a {current.get('type')}/{current.get('fieldType')} property; "
                f"kam-sync needs {hs_type}/{field_type}. Change or rename it in HubSpot."
            )
            return
        if hs_type == "enumeration" and current.get("fieldType") != field_type:
            if kept:
                report.unchanged.append(f"{where} (the portal's own {current.get('fieldType')})")
                return
            report.problems.append(
                f"{where} has field type {current.get('fieldType')}; kam-sync needs {field_type}"
                f" ({'several values' if field_type == 'checkbox' else 'one value'})."
            )
        have = [
            Option(
                str(o.get("value")),
                str(o.get("label") or o.get("value")),
                str(o.get("description") or ""),
                bool(o.get("hidden")),
            )
            for o in current.get("options") or []
        ]
        if hs_type != "enumeration":
            report.unchanged.append(where)
            return
        if spec.exact_values:
            options = synced_options(have, wanted)
        else:
            have_values = {o.value for o in have}
            options = [*have, *(o for o in wanted if o.value not in have_values)]
        if options == have:
            report.unchanged.append(where)
            return
        self._call(
            "provision",
            f"update options of {where}",
            self.sdk.properties_core.update,
            object_type,
            spec.name,
            PropertyUpdate(options=_option_inputs(options)),
        )
        added = [o.value for o in options if o.value not in {h.value for h in have}]
        report.updated.append(f"{where} (+{', '.join(added)})" if added else where)

    def _call(self, kind: str, what: str, fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
        return self.caller.call(kind, what, fn, *args).body


@dataclass(frozen=True, slots=True)
class Option:
    """One enumeration option as kam-sync compares them."""

    value: str
    label: str
    description: str = ""
    hidden: bool = False


def _option_inputs(options: Sequence[Option]) -> list[OptionInput]:
    """The options as HubSpot's property body takes them, in display order."""
    return [
        OptionInput(
            label=o.label,
            value=o.value,
            description=o.description or None,
            display_order=n,
            hidden=o.hidden,
        )
        for n, o in enumerate(options)
    ]


def _options(spec: CustomFieldSpec, max_characters: int = OPTION_MAX_CHARACTERS) -> list[Option]:
    if spec.type == "checkbox":
        return [Option(value, label) for value, label in BOOL_OPTIONS]
    if spec.type not in ("picklist", "multipicklist"):
        return []
    labels = list(spec.labels) + [
        v.replace("_", " ").title() for v in spec.values[len(spec.labels) :]
    ]
    descriptions = list(spec.value_descriptions) + [""] * (
        len(spec.values) - len(spec.value_descriptions)
    )
    options = []
    for value, label, text in zip(spec.values, labels, descriptions, strict=True):
        room = max_characters - len(value) - len(text)
        options.append(Option(value, shorten(label, max(room, 1)), text))
    return options


def synced_options(have: list[Option], wanted: list[Option]) -> list[Option]:
    """The options of a property whose values are kam-sync's own: the wanted ones in their
    order, then the other existing ones hidden."""
    wanted_values = {o.value for o in wanted}
    retired = [
        Option(o.value, o.label, o.description, True) for o in have if o.value not in wanted_values
    ]
    return [*wanted, *retired]


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "\u2026"
