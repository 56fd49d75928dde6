"""Check a project's mapping against what the CRM really has (its describe / property list).

Reported like config errors, at the line of the mapping file that names the field: fields that
do not exist (with suggestions), types that cannot hold the canonical value, write-back targets
that are not updateable, not kam-sync's (a standard field, or a custom field that neither
`kam-sync provision` created nor the mapping marks ``owned_by_kam_sync``), and picklists that
lack a value the rules can produce. Paths through relations and related pseudo-fields are
checked by connectors that can (Salesforce).

`validate` reports every finding; `run` and `plan` call `preflight` before they pull, which
stops on the findings that would make writes fail or write wrong values (all but input
picklist values a value map lacks: records holding them are quarantined, by design).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kam_sync import canonical
from kam_sync.config.issues import ConfigIssue
from kam_sync.config.loader import LoadedProject
from kam_sync.config.located import Loc, load_located
from kam_sync.config.suggest import did_you_mean
from kam_sync.config.text_fit import configured_lengths, short_text_field
from kam_sync.errors import ConfigError
from kam_sync_connectors.base import Connector, ObjectDescription
from kam_sync_connectors.registry import entry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CrmCheck:
    """What the mapping check found: ``blocking`` stops a run; ``warnings`` do not."""

    blocking: list[ConfigIssue]
    warnings: list[ConfigIssue]


def check_against_crm(project: LoadedProject, connector: Connector) -> list[ConfigIssue]:
    """Every mismatch between the mapping and the CRM, at its place in the mapping file."""
    found = inspect_mapping(project, connector)
    return found.blocking + found.warnings


def preflight(project: LoadedProject, connector: Connector) -> None:
    """Raise ConfigError (exit 2) before a run pulls if the mapping would fail or corrupt
    writes; log the findings that only set records aside."""
    found = inspect_mapping(project, connector)
    for issue in found.warnings:
        log.warning("%s", issue)
    if found.blocking:
        raise ConfigError(found.blocking)


def checklist_option_issues(
    project: LoadedProject, account: ObjectDescription
) -> list[tuple[Loc, str]]:
    """Checklist multi-selects whose options are not the questions of ``rules/checklist.yaml``:
    questions a person cannot tick, and options for questions that are gone."""
    questions = [q.id for c in project.rules.checklist.categories.values() for q in c.questions]
    found: list[tuple[Loc, str]] = []
    fields = project.mapping.objects.account.field_mappings()
    for name in ("checklist_answers", "checklist_not_applicable"):
        spec = fields.get(name)
        field = account.fields.get(spec.crm) if spec is not None else None
        if spec is None or field is None or not field.picklist_values:
            continue  # not mapped, missing (reported above), or a text field of the org's own
        offered = set(field.picklist_values)
        missing = [q for q in questions if q not in offered]
        retired = sorted(offered - set(questions))
        parts = []
        if missing:
            parts.append(f"has no option for questions {', '.join(missing)}")
        if retired:
            parts.append(
                f"offers options for questions no longer in the rules: {', '.join(retired)}"
            )
        if parts:
            found.append(
                (
                    ("objects", "account", "fields", name),
                    f"{spec.crm} is out of date with rules/checklist.yaml: {'; '.join(parts)}; "
                    "run `kam-sync provision` to update its options",
                )
            )
    return found


def inspect_mapping(project: LoadedProject, connector: Connector) -> CrmCheck:
    """The mapping against the CRM's describe, one describe per object."""
    path = project.files["mapping"]
    doc, _ = load_located(path)
    mapping = project.mapping
    found: list[tuple[Loc, str]] = []
    warnings: list[tuple[Loc, str]] = []
    described: dict[str, ObjectDescription] = {}
    # The CRM's own type names, from its registry entry.
    types = entry(project.config.crm.type).types
    for obj_name in ("account", "opportunity"):
        obj = getattr(mapping.objects, obj_name)
        described[obj_name] = desc = connector.describe(obj.crm_object)
        kinds = canonical.OBJECT_FIELDS[obj_name]
        for name, spec in obj.field_mappings().items():
            loc: Loc = ("objects", obj_name, "fields", name)
            if spec.crm.startswith("@") or "." in spec.crm or spec.crm == "archived":
                # Paths through relations (``Owner.Name``) and related pseudo-fields
                # (``@AccountTeamMember.TeamMemberRole``) are known to the connector only.
                if spec.crm != "archived":
                    found += [
                        (loc, p)
                        for p in connector.mapped_field_problems(obj.crm_object, [spec.crm])
                    ]
                continue
            field = desc.fields.get(spec.crm)
            if field is None:
                found.append(
                    (
                        loc,
                        f"{obj.crm_object} has no field '{spec.crm}'{did_you_mean(spec.crm, desc.fields)}",
                    )
                )
                continue
            if field.type.lower() not in types.compatible[kinds[name].value]:
                found.append(
                    (
                        loc,
                        f"{obj.crm_object}.{spec.crm} is of type {field.type}, which cannot hold {name} ({kinds[name].value})",
                    )
                )
            allowed = canonical.ENUMERATIONS.get(name)
            closed = (spec.unmapped or ("error" if allowed else "keep")) == "error"
            if closed and field.picklist_values:
                known = set(spec.value_map or {}) | set(allowed or ())
                unmapped = [v for v in field.picklist_values if v not in known]
                if unmapped:
                    warnings.append(
                        (
                            loc,
                            f"{obj.crm_object}.{spec.crm} has values {', '.join(unmapped)} that the value_map "
                            "does not map; records holding them would be quarantined (map them, or set "
                            "unmapped: empty)",
                        )
                    )
    warnings += checklist_option_issues(project, described["account"])
    account = described["account"]
    for name, target in mapping.write_back.items():
        loc = ("write_back", name)
        field = account.fields.get(target.crm)
        if field is None:
            found.append(
                (
                    loc,
                    f"{mapping.objects.account.crm_object} has no field '{target.crm}'"
                    f"{did_you_mean(target.crm, account.fields)}; run `kam-sync provision`",
                )
            )
            continue
        if not field.custom:
            found.append(
                (
                    loc,
                    f"{target.crm} is a standard field; kam-sync writes only to its own custom "
                    "fields (run `kam-sync provision`, or map a custom field)",
                )
            )
        elif not (field.provisioned or target.owned_by_kam_sync):
            found.append(
                (
                    loc,
                    f"{target.crm} was not created by `kam-sync provision`; if kam-sync alone "
                    "writes it, say so with `owned_by_kam_sync: true` on this target",
                )
            )
        if not field.updateable:
            found.append((loc, f"{target.crm} is not updateable by the integration user"))
        text_limit = configured_lengths(project.rules).get(name)
        if text_limit is not None and field.length is not None and field.length < text_limit:
            warnings.append((loc, short_text_field(target.crm, field.length, name, text_limit)))
        if field.type.lower() not in types.targets[target.type]:
            found.append((loc, f"{target.crm} is of type {field.type}, expected {target.type}"))
        if target.values and field.picklist_values:
            missing = [v for v in target.values.values() if v not in field.picklist_values]
            if missing:
                found.append(
                    (
                        loc,
                        f"{target.crm} lacks picklist values {', '.join(missing)} that the rules can produce; run `kam-sync provision`",
                    )
                )

    def located(items: list[tuple[Loc, str]]) -> list[ConfigIssue]:
        if doc is None:
            return [ConfigIssue(path, None, None, message) for _, message in items]
        return [doc.issue(loc, message, prefer_key=True) for loc, message in items]

    return CrmCheck(blocking=located(found), warnings=located(warnings))
