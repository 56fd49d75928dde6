"""Load a whole project: ``kam-sync.yaml``, its mapping file and its rule files.

Every problem in every file is collected before anything is reported, so an ops engineer sees
them all at once; a project with any problem never reaches a run.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kam_sync.config.issues import ConfigIssue
from kam_sync.config.located import Loc, LocatedDocument, load_located
from kam_sync.config.mapping import MappingFile
from kam_sync.config.project import PROJECT_FILE, ProjectConfig, RuleFiles, project_config_model
from kam_sync.config.rule_pack import RulePack, load_rule_pack
from kam_sync.config.secrets import secret_issues
from kam_sync.config.text_fit import fit_to_targets
from kam_sync.config.validate import located_issues, validate_document
from kam_sync.errors import ConfigError
from kam_sync_connectors import registry
from kam_sync_connectors.settings_base import ConnectorSettings


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
    if project_path.is_dir():
        raise ConfigError(
            [
                ConfigIssue(
                    project_path,
                    None,
                    None,
                    f"{PROJECT_FILE} is a folder, not the project file; remove or rename it, "
                    f"then create the project with `kam-sync init {root}`",
                )
            ]
        )
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
        issues += _at_naming_line(found, doc, ("mapping",), files["mapping"])
    for kind, rel in rule_rels.items():
        files[kind] = root / rel
    rules, found = _load_rules({k: files[k] for k in rule_rels}, crm_hint)
    for kind in rule_rels:
        found = _at_naming_line(found, doc, ("rules", kind), files[kind])
    issues += found
    if config is not None and doc is not None:
        issues += _check_ca_bundle(config, doc, root)
    if issues or config is None or mapping is None or rules is None:
        raise ConfigError(issues or [ConfigIssue(project_path, None, None, "invalid project")])
    rules = fit_to_targets(rules, mapping, files)  # texts cut to their CRM fields, at a word
    return LoadedProject(root=root, config=config, mapping=mapping, rules=rules, files=files)


def _at_naming_line(
    found: list[ConfigIssue], doc: LocatedDocument | None, key: Loc, path: Path
) -> list[ConfigIssue]:
    """A file that cannot be opened is reported at the line of kam-sync.yaml that names it
    (``mapping:``, ``rules.scoring:``), not as a file without a line; when the key is not in
    the file (a default path), the message says which key's default it is."""
    out: list[ConfigIssue] = []
    name = ".".join(str(part) for part in key)
    for issue in found:
        if issue.file != path or issue.line is not None or doc is None:
            out.append(issue)
            continue
        shown = _relative(path, doc.path.parent)
        if key in doc.key_positions:
            out.append(doc.issue(key, f"{name}: {shown}: {issue.message}"))
        else:
            out.append(
                ConfigIssue(
                    path, None, None, f"{issue.message} (the default of {name} in {PROJECT_FILE})"
                )
            )
    return out


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _check_ca_bundle(config: ProjectConfig, doc: LocatedDocument, root: Path) -> list[ConfigIssue]:
    """``crm.<name>.ca_bundle`` names a readable PEM CA file, reported at its line. A relative
    path is under the project folder (as the mapping and rule files are), made absolute here."""
    settings = config.connector_settings()
    if not isinstance(settings, ConnectorSettings) or settings.ca_bundle is None:
        return []
    given = settings.ca_bundle
    path = given if given.is_absolute() else root / given
    key: Loc = ("crm", config.crm.type, "ca_bundle")
    setting = f"crm.{config.crm.type}.ca_bundle"
    if path.is_dir():
        return [doc.issue(key, f"{setting}: {given} is a folder, not a CA bundle file (PEM)")]
    if not path.is_file():
        return [
            doc.issue(
                key,
                f"{setting}: no such file: {given}"
                + ("" if given.is_absolute() else " (relative to the project folder)"),
            )
        ]
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError):
        return [doc.issue(key, f"{setting}: {given} holds no PEM certificates")]
    settings.ca_bundle = path
    return []


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
