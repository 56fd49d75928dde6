"""The fields `provision` asks the CRM for: KAM inputs from the mapping and the rule pack."""

from __future__ import annotations

from pathlib import Path

import pytest

from kam_sync.config.loader import LoadedProject, load_project
from kam_sync.engine.provisioning import all_field_specs, input_field_specs


@pytest.fixture
def project(salesforce_project: Path) -> LoadedProject:
    return load_project(salesforce_project)


def test_every_kam_input_the_default_mapping_reads_gets_a_typed_field_with_help_text(
    project: LoadedProject,
) -> None:
    specs = input_field_specs(project.mapping, project.rules)
    types = {s.name: s.type for s in specs}
    assert types == {
        "KAM_Tier_Override__c": "picklist",
        "KAM_Relationship_Strength__c": "picklist",
        "KAM_Logo_Attractiveness__c": "picklist",
        "KAM_Strategic_Fit__c": "picklist",
        "KAM_Public_Company__c": "checkbox",
        "KAM_Executive_Sponsor__c": "text",
        "KAM_Competitors__c": "multipicklist",
        "KAM_Contacts_Engaged__c": "number",
        "KAM_Checklist_Answers__c": "multipicklist",
        "KAM_Checklist_Not_Applicable__c": "multipicklist",
        "KAM_Account_Plan_Started__c": "date",
        "KAM_Last_Review_Date__c": "date",
        "KAM_Team_Roles__c": "multipicklist",
    }
    assert all(s.help_text and s.access == "read" for s in specs)


def test_picklist_inputs_take_their_values_from_the_rule_pack_through_the_value_map(
    project: LoadedProject,
) -> None:
    specs = {s.name: s for s in input_field_specs(project.mapping, project.rules)}
    assert specs["KAM_Relationship_Strength__c"].values == (
        "Weak",
        "Moderate",
        "Strong",
        "Strategic Partner",
    )
    assert specs["KAM_Tier_Override__c"].values == (
        "Strategic",
        "Key",
        "Emerging",
        "Watchlist",
        "None",
    )


def test_checklist_fields_offer_the_questions_by_id_with_their_text(
    project: LoadedProject,
) -> None:
    specs = {s.name: s for s in input_field_specs(project.mapping, project.rules)}
    answers = specs["KAM_Checklist_Answers__c"]
    questions = [q for c in project.rules.checklist.categories.values() for q in c.questions]
    assert answers.values == tuple(q.id for q in questions)
    assert answers.labels == tuple(q.text for q in questions)
    assert all(q.text in d for q, d in zip(questions, answers.value_descriptions, strict=True))
    assert answers.exact_values


def test_no_inputs_leaves_only_the_write_back_fields(project: LoadedProject) -> None:
    specs = all_field_specs(project.mapping, project.rules, inputs=False)
    assert [s.name for s in specs] == [t.crm for t in project.mapping.write_back.values()]
    assert all(s.access == "edit" for s in specs)
