"""JSON Schemas for every YAML file kind, generated from the models, for editors."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from kam_sync.config.mapping import MappingFile
from kam_sync.config.project import project_config_model
from kam_sync.config.rule_pack import RULE_FILE_MODELS


def schema_models() -> dict[str, type[BaseModel]]:
    """File kind -> model: ``kam-sync``, ``mapping`` and one per rule file."""
    return {"kam-sync": project_config_model(), "mapping": MappingFile, **RULE_FILE_MODELS}


def write_schemas(folder: Path) -> list[Path]:
    """Write ``<kind>.schema.json`` for every kind into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, model in schema_models().items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema.setdefault("title", f"kam-sync {kind} file")
        path = folder / f"{kind}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def schema_modeline(kind: str, depth: int) -> str:
    """The comment that points YAML editors at the schema, from a file ``depth`` folders down."""
    prefix = "../" * depth
    return f"# yaml-language-server: $schema={prefix}schemas/{kind}.schema.json\n"
