"""The mapping against the CRM's describe: what stops a run before it pulls, and what does not."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import pytest

from kam_sync import canonical
from kam_sync.canonical import FieldKind
from kam_sync.config.loader import LoadedProject, load_project
from kam_sync.engine.crm_check import check_against_crm, inspect_mapping, preflight
from kam_sync.errors import ConfigError
from kam_sync_connectors.base import Connector, FieldDescription, ObjectDescription

CRM_TYPES = {
    FieldKind.ID: "id",
    FieldKind.TEXT: "string",
    FieldKind.INTEGER: "int",
    FieldKind.NUMBER: "double",
    FieldKind.MONEY: "currency",
    FieldKind.BOOLEAN: "boolean",
    FieldKind.DATE: "date",
    FieldKind.DATETIME: "datetime",
    FieldKind.TEXT_LIST: "multipicklist",
}
TARGET_TYPES = {
    "picklist": "picklist",
    "multipicklist": "multipicklist",
    "number": "double",
    "percent": "percent",
    "longtext": "textarea",
    "text": "string",
    "datetime": "datetime",
}


class DescribingConnector:
    """Answers describe from a table; counts the calls per object."""

    def __init__(self, objects: dict[str, ObjectDescription]) -> None:
        self.objects = objects
        self.calls: dict[str, int] = {}

    def describe(self, object_name: str) -> ObjectDescription:
        self.calls[object_name] = self.calls.get(object_name, 0) + 1
        return self.objects[object_name]


def org_matching(project: LoadedProject) -> dict[str, ObjectDescription]:
    """A CRM whose fields are exactly what the mapping needs, targets provisioned by kam-sync."""
    mapping = project.mapping
    objects: dict[str, ObjectDescription] = {}
    for obj_name in ("account", "opportunity"):
        obj = getattr(mapping.objects, obj_name)
        kinds = canonical.OBJECT_FIELDS[obj_name]
        fields = {
            spec.crm: FieldDescription(
                name=spec.crm, label=spec.crm, type=CRM_TYPES[kinds[name]], updateable=False
            )
            for name, spec in obj.field_mappings().items()
        }
        if obj_name == "account":
            for target in mapping.write_back.values():
                fields[target.crm] = FieldDescription(
                    name=target.crm,
                    label=target.crm,
                    type=TARGET_TYPES[target.type],
                    updateable=True,
                    custom=True,
                    provisioned=True,
                    picklist_values=tuple((target.values or {}).values()),
                )
        objects[obj.crm_object] = ObjectDescription(obj.crm_object, fields)
    return objects


def with_field(
    objects: dict[str, ObjectDescription], obj: str, name: str, **changes: Any
) -> dict[str, ObjectDescription]:
    fields = dict(objects[obj].fields)
    fields[name] = dataclasses.replace(fields[name], **changes)
    return objects | {obj: ObjectDescription(obj, fields)}


@pytest.fixture
def project(salesforce_project: Path) -> LoadedProject:
    return load_project(salesforce_project)


def edited(project: LoadedProject, old: str, new: str) -> LoadedProject:
    path = project.files["mapping"]
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return load_project(project.root)


def connector(objects: dict[str, ObjectDescription]) -> Connector:
    return cast(Connector, DescribingConnector(objects))


def test_a_mapping_that_matches_the_crm_passes_with_one_describe_per_object(
    project: LoadedProject,
) -> None:
    crm = DescribingConnector(org_matching(project))
    preflight(project, cast(Connector, crm))
    assert crm.calls == {"Account": 1, "Opportunity": 1}


def test_a_standard_field_is_refused_as_a_target_even_when_marked_owned(
    project: LoadedProject,
) -> None:
    project = edited(
        project,
        "    crm: KAM_Score_Explanation__c\n",
        "    crm: Description\n    owned_by_kam_sync: true\n",
    )
    objects = org_matching(project)
    objects = with_field(objects, "Account", "Description", custom=False, provisioned=False)
    with pytest.raises(ConfigError) as raised:
        preflight(project, connector(objects))
    (issue,) = raised.value.issues
    assert "Description is a standard field" in issue.message
    assert issue.file == project.files["mapping"] and issue.line is not None


def test_a_custom_field_kam_sync_did_not_provision_is_refused_unless_marked_owned(
    project: LoadedProject,
) -> None:
    objects = with_field(org_matching(project), "Account", "KAM_Score__c", provisioned=False)
    with pytest.raises(ConfigError, match="was not created by `kam-sync provision`"):
        preflight(project, connector(objects))

    owned = edited(
        project, "    crm: KAM_Score__c\n", "    crm: KAM_Score__c\n    owned_by_kam_sync: true\n"
    )
    preflight(owned, connector(objects))


def test_a_target_of_another_type_is_refused(project: LoadedProject) -> None:
    objects = with_field(org_matching(project), "Account", "KAM_Score_Explanation__c", type="url")
    with pytest.raises(ConfigError, match="is of type url, expected longtext"):
        preflight(project, connector(objects))


def test_input_picklist_values_the_value_map_lacks_warn_but_do_not_stop_the_run(
    project: LoadedProject, caplog: pytest.LogCaptureFixture
) -> None:
    objects = with_field(
        org_matching(project),
        "Account",
        "KAM_Strategic_Fit__c",
        type="picklist",
        picklist_values=("Low", "Medium", "High", "Unknown"),
    )
    found = inspect_mapping(project, connector(objects))
    assert not found.blocking
    assert len(found.warnings) == 1 and "Unknown" in found.warnings[0].message
    preflight(project, connector(objects))
    assert "would be quarantined" in caplog.text
    # validate still lists it
    assert len(check_against_crm(project, connector(objects))) == 1


def test_checklist_options_that_lag_behind_the_rules_are_reported_by_validate(
    project: LoadedProject,
) -> None:
    ids = [q.id for c in project.rules.checklist.categories.values() for q in c.questions]
    # The org's multi-select lacks the last question and still offers a removed one.
    offered = (*ids[:-1], "trends_99")
    objects = with_field(
        org_matching(project),
        "Account",
        "KAM_Checklist_Answers__c",
        type="multipicklist",
        picklist_values=offered,
    )
    found = inspect_mapping(project, connector(objects))
    assert not found.blocking
    (issue,) = found.warnings
    assert "KAM_Checklist_Answers__c is out of date" in issue.message
    assert ids[-1] in issue.message and "trends_99" in issue.message
    assert "run `kam-sync provision`" in issue.message
    assert issue.line is not None

    current = with_field(
        org_matching(project),
        "Account",
        "KAM_Checklist_Answers__c",
        type="multipicklist",
        picklist_values=tuple(ids),
    )
    assert not inspect_mapping(project, connector(current)).warnings


def test_a_checklist_field_of_the_orgs_own_text_type_has_no_options_to_check(
    project: LoadedProject,
) -> None:
    objects = with_field(
        org_matching(project), "Account", "KAM_Checklist_Answers__c", type="textarea"
    )
    assert not inspect_mapping(project, connector(objects)).warnings
