"""Load a whole project: ``kam-sync.yaml``, its mapping file and its rule files.

Every problem in every file is collected before anything is reported, so an ops engineer sees
them all at once; a project with any problem never reaches a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kam_sync.config.issues import ConfigIssue
from kam_sync.config.located import LocatedDocument, load_located
from kam_sync.config.mapping import MappingFile
from kam_sync.config.project import PROJECT_FILE, ProjectConfig, RuleFiles, project_config_model
from kam_sync.config.rule_pack import RulePack, load_rule_pack
from kam_sync.config.secrets import secret_issues
from kam_sync.config.text_fit import fit_to_targets
from kam_sync.config.validate import located_issues, validate_document
from kam_sync.errors import ConfigError
from kam_sync_connectors import registry


@dataclass(slots=True)
class LoadedProject:
    """A project whose files all validated."""

    root: Path
    config: ProjectConfig
    mapping: MappingFile
    rules: RulePack
    files: dict[str, Path]


def load_project(root: Path) -> LoadedProject:
    """Load and validate everything; raise ConfigError listing every problem."""
    root = root.resolve()
    issues: list[ConfigIssue] = []
    project_path = root / PROJECT_FILE
    if not project_path.is_file():
        raise ConfigError(
            [
                ConfigIssue(
                    project_path,
                    None,
                    None,
                    f"no {PROJECT_FILE} here; create a project with `kam-sync init {root}` "
                    "or pass --project DIR",
                )
            ]
        )
    doc, found = load_located(project_path)
    issues += found
    config: ProjectConfig | None = None
    crm_hint: str | None = None
    if doc is not None:
        crm_hint = _crm_hint(doc)
        config, found = validate_document(doc, project_config_model())
        issues += _without_secret_places(found, secret_issues(doc, crm_hint))
    files: dict[str, Path] = {"project": project_path}
    # Even when the project file has errors, the files it names are checked too, so every
    # problem in every file is reported in one go.
    raw = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    mapping_rel = config.mapping if config else raw.get("mapping")
    rule_rels = config.rules.model_dump() if config else _raw_rule_files(raw)
    mapping: MappingFile | None = None
    rules: RulePack | None = None
    if isinstance(mapping_rel, str):
        files["mapping"] = root / mapping_rel
        mapping, found = _load_mapping(files["mapping"], crm_hint)
        issues += found
    for kind, rel in rule_rels.items():
        files[kind] = root / rel
    rules, found = _load_rules({k: files[k] for k in rule_rels}, crm_hint)
    issues += found
    if issues or config is None or mapping is None or rules is None:
        raise ConfigError(issues or [ConfigIssue(project_path, None, None, "invalid project")])
    rules = fit_to_targets(rules, mapping, files)  # texts cut to their CRM fields, at a word
    return LoadedProject(root=root, config=config, mapping=mapping, rules=rules, files=files)


def _crm_hint(doc: LocatedDocument) -> str | None:
    data = doc.data if isinstance(doc.data, dict) else {}
    crm = data.get("crm")
    if isinstance(crm, dict) and crm.get("type") in registry.crm_names():
        return str(crm["type"])
    return None


def _raw_rule_files(raw: dict[str, Any]) -> dict[str, str]:
    defaults = RuleFiles().model_dump()
    given = raw.get("rules")
    if isinstance(given, dict):
        for kind in defaults:
            if isinstance(given.get(kind), str):
                defaults[kind] = given[kind]
    return defaults


def _load_mapping(path: Path, crm: str | None) -> tuple[MappingFile | None, list[ConfigIssue]]:
    doc, issues = load_located(path)
    if doc is None:
        return None, issues
    mapping, found = validate_document(doc, MappingFile)
    issues += _without_secret_places(found, secret_issues(doc, crm))
    if mapping is None:
        return None, issues
    issues += located_issues(doc, mapping.semantic_issues())
    if crm is not None and mapping.crm != crm:
        issues.append(
            doc.issue(
                ("crm",),
                f"this mapping is for {mapping.crm} but the project's crm.type is "
                f"{crm}; point 'mapping' at a {crm} mapping",
            )
        )
    return (mapping if not issues else None), issues


def _load_rules(
    files: dict[str, Path], crm: str | None
) -> tuple[RulePack | None, list[ConfigIssue]]:
    secrets: list[ConfigIssue] = []
    for path in files.values():
        doc, _syntax = load_located(path)  # syntax errors are reported by the rule loader
        if doc is not None:
            secrets += secret_issues(doc, crm)
    pack, found = load_rule_pack(files)
    issues = _without_secret_places(found, secrets)
    return (pack if not issues else None), _unique(issues)


def _without_secret_places(
    found: list[ConfigIssue], secrets: list[ConfigIssue]
) -> list[ConfigIssue]:
    """Report a secret key once, as a secret, not also as an unknown key at the same place."""
    places = {(i.file, i.line, i.col) for i in secrets}
    return secrets + [i for i in found if (i.file, i.line, i.col) not in places]


def _unique(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return list(dict.fromkeys(issues))
