"""JSON Schemas for every YAML file kind, generated from the models, for editors.

Every key carries a description (what an editor shows on hover): the model's own field
description, else the rule files' table in ``schema_docs``, else the description of the model
the key holds. The mapping schema lists the canonical field names each object may map.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from kam_sync import canonical
from kam_sync.config.mapping import MappingFile
from kam_sync.config.project import project_config_model
from kam_sync.config.rule_pack import RULE_FILE_MODELS
from kam_sync.config.schema_docs import CANONICAL_FIELD_DOCS, RULE_FIELD_DOCS


def schema_models() -> dict[str, type[BaseModel]]:
    """File kind -> model: ``kam-sync``, ``mapping`` and one per rule file."""
    return {"kam-sync": project_config_model(), "mapping": MappingFile, **RULE_FILE_MODELS}


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one file kind, with a description on every key."""
    model = schema_models()[kind]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", f"kam-sync {kind} file")
    if kind == "mapping":
        _list_canonical_fields(schema)
    defs: dict[str, Any] = schema.get("$defs", {})
    for name, definition in defs.items():
        _describe_properties(definition, RULE_FIELD_DOCS.get(name, {}), defs)
    _describe_properties(schema, RULE_FIELD_DOCS.get(model.__name__, {}), defs)
    return schema


def write_schemas(folder: Path) -> list[Path]:
    """Write ``<kind>.schema.json`` for every kind into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in schema_models():
        path = folder / f"{kind}.schema.json"
        text = json.dumps(json_schema(kind), indent=2, sort_keys=False)
        path.write_text(text + "\n", encoding="utf-8")
        written.append(path)
    return written


def _describe_properties(
    definition: dict[str, Any], docs: dict[str, str], defs: dict[str, Any]
) -> None:
    for name, prop in definition.get("properties", {}).items():
        if "description" in prop:
            continue
        text = docs.get(name) or _referenced_description(prop, defs)
        if text:
            prop["description"] = text


def _referenced_description(prop: dict[str, Any], defs: dict[str, Any]) -> str | None:
    """The description of the model a key holds (its class docstring), through ``$ref``,
    ``anyOf``/``oneOf`` members, list items and map values."""
    candidates = [prop]
    for key in ("anyOf", "oneOf"):
        candidates += prop.get(key, [])
    for candidate in list(candidates):
        for key in ("items", "additionalProperties"):
            if isinstance(candidate.get(key), dict):
                candidates.append(candidate[key])
    for candidate in candidates:
        ref = candidate.get("$ref")
        if isinstance(ref, str):
            text = defs.get(ref.rsplit("/", 1)[-1], {}).get("description")
            if text:
                return str(text)
    return None


def _list_canonical_fields(schema: dict[str, Any]) -> None:
    """Each object's ``fields`` (and ``write_back``) name their canonical fields, described, so
    an editor completes them; unknown names are refused by ``validate`` with a suggestion."""
    defs = schema["$defs"]
    objects = defs["ObjectsSection"]["properties"]
    base = defs["ObjectMapping"]
    for object_name in ("account", "opportunity"):
        inputs = {
            name: doc
            for name, doc in CANONICAL_FIELD_DOCS[object_name].items()
            if name in canonical.OBJECT_FIELDS[object_name]
            and name not in canonical.KAM_OUTPUT_FIELDS
        }
        definition = copy.deepcopy(base)
        fields = definition["properties"]["fields"]
        value_schema = fields.get("additionalProperties", {})
        fields["properties"] = {
            name: {**copy.deepcopy(value_schema), "description": doc}
            for name, doc in inputs.items()
        }
        fields["propertyNames"] = {"enum": list(inputs)}
        def_name = f"{object_name.capitalize()}Mapping"
        definition["title"] = def_name
        defs[def_name] = definition
        objects[object_name] = {
            "$ref": f"#/$defs/{def_name}",
            "description": f"the CRM object read as canonical {object_name}s, and its fields",
        }
    write_back = schema["properties"]["write_back"]
    targets = CANONICAL_FIELD_DOCS["write_back"]
    value_schema = write_back.get("additionalProperties", {})
    write_back["properties"] = {
        name: {**copy.deepcopy(value_schema), "description": doc} for name, doc in targets.items()
    }
    write_back["propertyNames"] = {"enum": list(targets)}


def schema_modeline(kind: str, depth: int) -> str:
    """The comment that points YAML editors at the schema, from a file ``depth`` folders down."""
    prefix = "../" * depth
    return f"# yaml-language-server: $schema={prefix}schemas/{kind}.schema.json\n"
