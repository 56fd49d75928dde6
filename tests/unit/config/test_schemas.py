"""Editor help: every key of every YAML file kind has a description in its JSON Schema (what an
editor shows on hover), and the mapping schema lists the canonical field names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kam_sync import canonical
from kam_sync.config.rule_pack import RULE_FILE_MODELS
from kam_sync.config.schema_docs import RULE_FIELD_DOCS
from kam_sync.config.schemas import json_schema, schema_models, write_schemas


def _undescribed(
    schema: dict[str, Any], defs: dict[str, Any], path: str, seen: frozenset[str]
) -> list[str]:
    """Every key below ``schema`` without a description, as a dotted path."""
    found: list[str] = []
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return [] if name in seen else _undescribed(defs[name], defs, path, seen | {name})
    for key in ("anyOf", "oneOf", "allOf"):
        for member in schema.get(key, []):
            found += _undescribed(member, defs, path, seen)
    for name, prop in schema.get("properties", {}).items():
        key_path = f"{path}.{name}" if path else name
        if not str(prop.get("description") or "").strip():
            found.append(key_path)
        found += _undescribed(prop, defs, key_path, seen)
    for key, suffix in (("additionalProperties", ".<name>"), ("items", "[]")):
        if isinstance(schema.get(key), dict):
            found += _undescribed(schema[key], defs, path + suffix, seen)
    return found


@pytest.mark.parametrize("kind", list(schema_models()))
def test_every_key_of_every_file_kind_has_a_description(kind: str) -> None:
    schema = json_schema(kind)
    assert _undescribed(schema, schema.get("$defs", {}), "", frozenset()) == []


def test_the_check_finds_a_key_without_a_description() -> None:
    schema = {"properties": {"a": {"description": "x"}, "b": {"$ref": "#/$defs/B"}}}
    defs = {"B": {"properties": {"c": {"type": "string"}}}}
    assert _undescribed(schema, defs, "", frozenset()) == ["b", "b.c"]


def test_the_mapping_schema_lists_and_describes_the_canonical_fields() -> None:
    schema = json_schema("mapping")
    defs = schema["$defs"]
    for object_name in ("account", "opportunity"):
        ref = defs["ObjectsSection"]["properties"][object_name]["$ref"].rsplit("/", 1)[-1]
        fields = defs[ref]["properties"]["fields"]
        expected = [
            name
            for name in canonical.OBJECT_FIELDS[object_name]
            if name not in canonical.KAM_OUTPUT_FIELDS
        ]
        assert list(fields["properties"]) == expected
        assert fields["propertyNames"] == {"enum": expected}
    write_back = schema["properties"]["write_back"]
    assert list(write_back["properties"]) == list(canonical.KAM_OUTPUT_FIELDS)


def test_the_rule_file_descriptions_name_only_keys_that_exist() -> None:
    """A key renamed in a rule file's model must be renamed in schema_docs too."""
    models: dict[str, set[str]] = {}
    for model in RULE_FILE_MODELS.values():
        defs = model.model_json_schema().get("$defs", {})
        for name, definition in {model.__name__: model.model_json_schema(), **defs}.items():
            models.setdefault(name, set()).update(definition.get("properties", {}))
    stale = {
        f"{model}.{key}"
        for model, keys in RULE_FIELD_DOCS.items()
        for key in keys
        if key not in models.get(model, set())
    }
    assert stale == set()


def test_written_schemas_carry_the_descriptions(tmp_path: Path) -> None:
    paths = write_schemas(tmp_path)
    governance = json.loads((tmp_path / "governance.schema.json").read_text(encoding="utf-8"))
    cap = governance["$defs"]["Cap"]["properties"]["max_share"]
    assert "share" in cap["description"]
    assert {p.name for p in paths} == {f"{kind}.schema.json" for kind in schema_models()}
