"""HubSpot property definitions and groups, and the value checks a write goes through.

Types and field types follow HubSpot's properties guide: `bool` (booleancheckbox),
`enumeration` (select, radio, checkbox, booleancheckbox), `date` and `datetime` (date),
`string` (text, textarea, html, phonenumber, file), `number` (number,
calculation_equation). Values travel as strings; `date` is `YYYY-MM-DD` (or epoch
milliseconds at midnight UTC), `datetime` ISO-8601 or epoch milliseconds, checkbox
enumerations `;`-separated.

Guessed, not documented: reads return `date` values as `YYYY-MM-DD` (some older examples
show epoch milliseconds) and numbers without trailing zeros; the error codes and messages of
refused values other than INVALID_OPTION and PROPERTY_DOESNT_EXIST.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

OBJECT_TYPES = {
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
}
FIELD_TYPES_BY_TYPE = {
    "bool": {"booleancheckbox"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "date": {"date"},
    "datetime": {"date"},
    "string": {"text", "textarea", "html", "phonenumber", "file"},
    "number": {"number", "calculation_equation"},
    "phone_number": {"phonenumber"},
}
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# HubSpot documents 65,536 characters as the limit of a string property value.
MAX_STRING_LENGTH = 65_536


def canonical_object_type(raw: str) -> str | None:
    """`companies`/`company`/`0-2` -> `companies`; None for an object type we do not emulate."""
    return OBJECT_TYPES.get(raw.lower())


@dataclass(slots=True)
class PropertyOption:
    label: str
    value: str
    display_order: int = -1
    hidden: bool = False
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": self.value,
            "description": self.description,
            "displayOrder": self.display_order,
            "hidden": self.hidden,
        }


@dataclass(slots=True)
class PropertyDefinition:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    options: list[PropertyOption] = field(default_factory=list)
    description: str = ""
    display_order: int = -1
    hubspot_defined: bool = False
    read_only_value: bool = False
    calculated: bool = False
    hidden: bool = False
    form_field: bool = True
    created_at: datetime = field(default_factory=lambda: datetime(2019, 8, 6, tzinfo=UTC))
    updated_at: datetime = field(default_factory=lambda: datetime(2019, 8, 6, tzinfo=UTC))
    archived: bool = False
    option_values: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.option_values = frozenset(o.value for o in self.options)

    def set_options(self, options: list[PropertyOption]) -> None:
        self.options = options
        self.option_values = frozenset(o.value for o in options)

    def to_json(self) -> dict[str, Any]:
        """The property as `GET /crm/v3/properties/{objectType}` lists it."""
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [o.to_json() for o in self.options],
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": False,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
            "formField": self.form_field,
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
            "archived": self.archived,
        }
        return body


@dataclass(slots=True)
class PropertyGroup:
    name: str
    label: str
    display_order: int = -1
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": self.archived,
        }


@dataclass(frozen=True, slots=True)
class InvalidValue:
    """Why one property value was refused; HubSpot lists these in its error message."""

    name: str
    error: str  # HubSpot's code, e.g. INVALID_OPTION, PROPERTY_DOESNT_EXIST
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.error,
            "name": self.name,
            "localizedErrorMessage": self.message,
        }


class PropertyRegistry:
    """The property groups and definitions of one object type; thread-safe."""

    def __init__(self, object_type: str) -> None:
        self.object_type = object_type
        self._lock = threading.Lock()
        self._groups: dict[str, PropertyGroup] = {}
        self._properties: dict[str, PropertyDefinition] = {}

    def add_group(self, group: PropertyGroup) -> None:
        with self._lock:
            self._groups[group.name] = group

    def add(self, definition: PropertyDefinition) -> None:
        with self._lock:
            self._properties[definition.name] = definition

    def get(self, name: str) -> PropertyDefinition | None:
        return self._properties.get(name)

    def remove(self, name: str) -> None:
        """Take a property away (a portal that never had it)."""
        with self._lock:
            self._properties.pop(name, None)

    def group(self, name: str) -> PropertyGroup | None:
        return self._groups.get(name)

    def properties(self, *, archived: bool = False) -> list[PropertyDefinition]:
        with self._lock:
            return [p for p in self._properties.values() if p.archived == archived]

    def groups(self) -> list[PropertyGroup]:
        with self._lock:
            return [g for g in self._groups.values() if not g.archived]

    def names(self) -> Iterable[str]:
        return self._properties.keys()

    def normalize(self, name: str, raw: object) -> str | InvalidValue | None:
        """The stored form of `raw` for property `name`, or why it is refused."""
        definition = self._properties.get(name)
        if definition is None or definition.archived:
            return InvalidValue(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
        if definition.read_only_value:
            return InvalidValue(
                name,
                "READ_ONLY_VALUE",
                f'"{name}" is a read only property; its value cannot be set.',
            )
        return normalize_value(definition, raw)


def normalize_value(definition: PropertyDefinition, raw: object) -> str | InvalidValue | None:
    """Check `raw` against the property's type and options; "" and None clear the value."""
    name = definition.name
    if raw is None or raw == "":
        return None
    if isinstance(raw, dict | list):
        return InvalidValue(name, "INVALID_VALUE", f"{raw!r} is not a valid value for {name}")
    text = _text(raw)
    kind = definition.type
    if kind in {"string", "phone_number"}:
        if len(text) > MAX_STRING_LENGTH:
            return InvalidValue(
                name,
                "INVALID_STRING_LENGTH",
                f"{name} may hold at most {MAX_STRING_LENGTH} characters, got {len(text)}",
            )
        return text
    if kind == "number":
        try:
            number = Decimal(text)
        except InvalidOperation:
            return InvalidValue(name, "INVALID_DECIMAL", f"{text} was not a valid number.")
        if not number.is_finite():
            return InvalidValue(name, "INVALID_DECIMAL", f"{text} was not a valid number.")
        return format_number(number)
    if kind == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            return InvalidValue(name, "INVALID_BOOLEAN", f"{text} was not a valid boolean.")
        return lowered
    if kind == "enumeration":
        chosen = text.split(";") if definition.field_type == "checkbox" else [text]
        chosen = [c for c in chosen if c != ""]
        unknown = [c for c in chosen if c not in definition.option_values]
        if unknown:
            allowed = ", ".join(sorted(definition.option_values))
            return InvalidValue(
                name,
                "INVALID_OPTION",
                f"{unknown[0]} was not one of the allowed options: [{allowed}]",
            )
        return ";".join(chosen) if chosen else None
    if kind == "date":
        return _normalize_date(name, text)
    if kind == "datetime":
        parsed = parse_datetime(text)
        if parsed is None:
            return InvalidValue(name, "INVALID_DATE", f"{text} is not a valid datetime")
        return _iso(parsed)
    return text


def _text(raw: object) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def _normalize_date(name: str, text: str) -> str | InvalidValue:
    if text.isdigit():
        millis = int(text)
        # HubSpot's date properties take epoch milliseconds only at midnight UTC.
        if millis % 86_400_000:
            return InvalidValue(
                name, "INVALID_DATE", f"{text} is not at midnight UTC; date values must be"
            )
        return datetime.fromtimestamp(millis / 1000, UTC).date().isoformat()
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return InvalidValue(name, "INVALID_DATE", f"{text} is not a valid date")


def parse_datetime(text: str) -> datetime | None:
    """Epoch milliseconds or ISO-8601 (date or datetime) -> aware UTC datetime."""
    stripped = text.strip()
    if stripped.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(stripped) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def epoch_millis(moment: datetime) -> int:
    """Whole epoch milliseconds, exactly (no float rounding), as search compares stamps."""
    return (moment - _EPOCH) // _MILLISECOND


def format_number(number: Decimal) -> str:
    """A Decimal as HubSpot echoes numbers: no exponent, no trailing zeros after a point."""
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _iso(moment: datetime) -> str:
    return iso_millis(moment)


def iso_millis(moment: datetime) -> str:
    """`2024-05-04T12:30:00.123Z`, the datetime form HubSpot returns."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
