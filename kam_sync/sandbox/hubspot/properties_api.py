"""Property and property-group endpoints, with HubSpot's type, field-type, group, name and
option checks on writes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kam_sync.sandbox.hubspot.errors import hubspot_error, validation_error
from kam_sync.sandbox.hubspot.properties import (
    FIELD_TYPES_BY_TYPE,
    PROPERTY_NAME,
    PropertyDefinition,
    PropertyGroup,
    PropertyOption,
    PropertyRegistry,
)
from kam_sync.sandbox.hubspot.request_input import json_body, query_flag, table_for
from kam_sync.sandbox.hubspot.store import HubSpotStore, ObjectTable
from kam_sync.sandbox.server import HttpError, Request, Response, json_response

if TYPE_CHECKING:
    from kam_sync.sandbox.hubspot.app import HubSpotApp


class PropertiesApi:
    """The properties endpoints of one `HubSpotApp`."""

    def __init__(self, app: HubSpotApp) -> None:
        self.app = app

    @property
    def store(self) -> HubSpotStore:
        return self.app.store

    def _table(self, request: Request, key: str = "type") -> ObjectTable:
        return table_for(self.store, request, key)

    def list_properties(self, request: Request) -> Response:
        registry = self._table(request).registry
        archived = query_flag(request, "archived")
        return json_response(
            200, {"results": [p.to_json() for p in registry.properties(archived=archived)]}
        )

    def get_property(self, request: Request) -> Response:
        registry = self._table(request).registry
        definition = registry.get(request.params["name"])
        if definition is None or definition.archived:
            raise _property_missing(registry, request.params["name"])
        return json_response(200, definition.to_json())

    def create_property(self, request: Request) -> Response:
        """Create a custom property after HubSpot's type, field type, group and option checks."""
        registry = self._table(request).registry
        payload = json_body(request)
        if not isinstance(payload, Mapping):
            raise validation_error("The request body must be a property object.")
        for required in ("name", "label", "type", "fieldType", "groupName"):
            if not payload.get(required):
                raise validation_error(f"Missing required field {required!r} for a property.")
        name = str(payload["name"])
        if not PROPERTY_NAME.match(name):
            raise validation_error(
                f"Property name {name!r} must start with a lowercase letter and hold only "
                "lowercase letters, digits and underscores."
            )
        type_, field_type = str(payload["type"]), str(payload["fieldType"])
        _check_types(type_, field_type)
        group = str(payload["groupName"])
        if registry.group(group) is None:
            raise validation_error(f"Property group {group!r} does not exist.")
        options = parse_options(type_, payload.get("options"))
        with self.store.lock:
            existing = registry.get(name)
            if existing is not None and not existing.archived:
                raise hubspot_error(
                    409,
                    f"Property named '{name}' already exists.",
                    "OBJECT_ALREADY_EXISTS",
                    sub_category="Properties.PROPERTY_EXISTS",
                    context={"name": [name]},
                )
            now = self.store.clock()
            definition = PropertyDefinition(
                name=name,
                label=str(payload["label"]),
                type=type_,
                field_type=field_type,
                group_name=group,
                options=options,
                description=str(payload.get("description") or ""),
                display_order=int(payload.get("displayOrder", -1)),
                hidden=bool(payload.get("hidden", False)),
                form_field=bool(payload.get("formField", False)),
                created_at=now,
                updated_at=now,
            )
            registry.add(definition)
        return json_response(201, definition.to_json())

    def update_property(self, request: Request) -> Response:
        registry = self._table(request).registry
        name = request.params["name"]
        payload = json_body(request)
        if not isinstance(payload, Mapping):
            raise validation_error("The request body must be a property object.")
        with self.store.lock:
            definition = registry.get(name)
            if definition is None or definition.archived:
                raise _property_missing(registry, name)
            if definition.hubspot_defined:
                raise validation_error(f"The HubSpot-defined property {name!r} cannot be changed.")
            type_ = str(payload.get("type", definition.type))
            field_type = str(payload.get("fieldType", definition.field_type))
            _check_types(type_, field_type)
            group = str(payload.get("groupName", definition.group_name))
            if registry.group(group) is None:
                raise validation_error(f"Property group {group!r} does not exist.")
            if "options" in payload or type_ != definition.type:
                raw_options = payload.get("options", [o.to_json() for o in definition.options])
                definition.set_options(parse_options(type_, raw_options))
            definition.type, definition.field_type, definition.group_name = type_, field_type, group
            definition.label = str(payload.get("label", definition.label))
            definition.description = str(payload.get("description", definition.description))
            definition.display_order = int(payload.get("displayOrder", definition.display_order))
            definition.hidden = bool(payload.get("hidden", definition.hidden))
            definition.updated_at = self.store.clock()
        return json_response(200, definition.to_json())

    def list_groups(self, request: Request) -> Response:
        registry = self._table(request).registry
        return json_response(200, {"results": [g.to_json() for g in registry.groups()]})

    def get_group(self, request: Request) -> Response:
        registry = self._table(request).registry
        group = registry.group(request.params["name"])
        if group is None or group.archived:
            raise hubspot_error(
                404,
                f"Property group {request.params['name']!r} does not exist.",
                "OBJECT_NOT_FOUND",
            )
        return json_response(200, group.to_json())

    def create_group(self, request: Request) -> Response:
        registry = self._table(request).registry
        payload = json_body(request)
        if not isinstance(payload, Mapping) or not payload.get("name") or not payload.get("label"):
            raise validation_error("A property group needs a name and a label.")
        name = str(payload["name"])
        if not PROPERTY_NAME.match(name):
            raise validation_error(
                f"Group name {name!r} must start with a lowercase letter and hold only "
                "lowercase letters, digits and underscores."
            )
        with self.store.lock:
            existing = registry.group(name)
            if existing is not None and not existing.archived:
                raise hubspot_error(
                    409,
                    f"A property group named '{name}' already exists.",
                    "OBJECT_ALREADY_EXISTS",
                    context={"name": [name]},
                )
            group = PropertyGroup(name, str(payload["label"]), int(payload.get("displayOrder", -1)))
            registry.add_group(group)
        return json_response(201, group.to_json())

    def update_group(self, request: Request) -> Response:
        registry = self._table(request).registry
        payload = json_body(request)
        with self.store.lock:
            group = registry.group(request.params["name"])
            if group is None or group.archived:
                raise hubspot_error(
                    404,
                    f"Property group {request.params['name']!r} does not exist.",
                    "OBJECT_NOT_FOUND",
                )
            if isinstance(payload, Mapping):
                group.label = str(payload.get("label", group.label))
                group.display_order = int(payload.get("displayOrder", group.display_order))
        return json_response(200, group.to_json())


def _check_types(type_: str, field_type: str) -> None:
    allowed = FIELD_TYPES_BY_TYPE.get(type_)
    if allowed is None:
        raise validation_error(
            f"Invalid property type {type_!r}; allowed: {', '.join(sorted(FIELD_TYPES_BY_TYPE))}."
        )
    if field_type not in allowed:
        raise validation_error(
            f"fieldType {field_type!r} is not valid for type {type_!r}; "
            f"allowed: {', '.join(sorted(allowed))}."
        )


MAX_OPTIONS = 5000
OPTION_MAX_CHARACTERS = 3000


def parse_options(type_: str, raw: object) -> list[PropertyOption]:
    if type_ == "bool":
        return [PropertyOption("Yes", "true", 0), PropertyOption("No", "false", 1)]
    if type_ != "enumeration":
        return []
    if not isinstance(raw, list) or not raw:
        raise validation_error("An enumeration property needs at least one option.")
    # HubSpot Knowledge Base, "Property field types in HubSpot": dropdown selects and multiple
    # checkboxes hold up to 5,000 options, each up to 3,000 characters with its label, value
    # and description.
    if len(raw) > MAX_OPTIONS:
        raise validation_error(f"A property can have at most {MAX_OPTIONS} options.")
    options: list[PropertyOption] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or "value" not in item or "label" not in item:
            raise validation_error("Each option needs a label and a value.")
        value = str(item["value"])
        if value in seen:
            raise validation_error(f"Duplicate option value {value!r}.")
        seen.add(value)
        size = len(value) + len(str(item["label"])) + len(str(item.get("description") or ""))
        if size > OPTION_MAX_CHARACTERS:
            raise validation_error(
                f"Option {value!r} has {size} characters with its label and description; "
                f"at most {OPTION_MAX_CHARACTERS} are allowed."
            )
        options.append(
            PropertyOption(
                label=str(item["label"]),
                value=value,
                display_order=int(item.get("displayOrder", index)),
                hidden=bool(item.get("hidden", False)),
                description=str(item.get("description") or ""),
            )
        )
    return options


def _property_missing(registry: PropertyRegistry, name: str) -> HttpError:
    return hubspot_error(
        404,
        f"Unable to find property named '{name}' for object type {registry.object_type}.",
        "OBJECT_NOT_FOUND",
        context={"name": [name]},
    )
