"""Conformance: every registered connector keeps a checklist multi-select in step with the
questions (added, reworded, removed), within its CRM's documented limits, and says what an
admin still has to do."""

from __future__ import annotations

import dataclasses

from kam_sync.sandbox.runner import SandboxHandle
from kam_sync_connectors.base import CustomFieldSpec
from tests.conformance.conftest import CrmAdapter

QUESTIONS = {
    "needs_01": "What are the customer's top three business priorities this year?",
    "needs_02": "Which of those priorities does our offer serve today?",
    "trends_01": "Which market trends in the customer's industry will change what they buy? "
    + "And how? " * 200,  # longer than either CRM lets an option's label be
}


def _answers(crm: CrmAdapter, questions: dict[str, str]) -> CustomFieldSpec:
    name = "KAM_Checklist_Answers__c" if crm.crm == "salesforce" else "kam_checklist_answers"
    return CustomFieldSpec(
        object_name=crm.account_object,
        name=name,
        label="KAM Checklist Answers",
        type="multipicklist",
        values=tuple(questions),
        labels=tuple(questions.values()),
        value_descriptions=tuple(f"Needs: {t}" for t in questions.values()),
        help_text="Tick the account-plan questions the team can answer with yes.",
        exact_values=True,
        access="read",
    )


def test_checklist_options_follow_the_questions_added_reworded_and_removed(
    crm: CrmAdapter,
) -> None:
    with crm.sandbox(accounts=5, kam_inputs=False) as sandbox:
        connector = crm.connector(sandbox)
        spec = _answers(crm, QUESTIONS)

        created = connector.provision([spec])

        assert created.problems == [], created.problems
        assert created.admin_steps, "provision says what an admin still has to do"
        field = connector.describe(crm.account_object).fields[spec.name]
        assert field.picklist_values == tuple(QUESTIONS)

        # A question removed, one added, one reworded.
        changed = {
            "needs_01": "What are the customer's three priorities this year?",
            "trends_01": QUESTIONS["trends_01"],
            "value_01": "Can we state in one sentence the value we bring the customer today?",
        }
        updated = connector.provision([dataclasses.replace(spec, **_values(changed))])

        assert updated.problems == [] and len(updated.updated) == 1, updated
        field = crm.connector(sandbox).describe(crm.account_object).fields[spec.name]
        assert set(field.picklist_values) == set(changed)  # needs_02 is no longer offered
        labels = _labels(crm, sandbox, spec.name)
        assert labels["needs_01"] == changed["needs_01"]
        assert labels["trends_01"].endswith("\u2026") and len(labels["trends_01"]) < len(
            changed["trends_01"]
        )

        again = crm.connector(sandbox).provision([dataclasses.replace(spec, **_values(changed))])
        assert again.updated == [] and len(again.unchanged) == 1, again


def _labels(crm: CrmAdapter, sandbox: SandboxHandle, name: str) -> dict[str, str]:
    """The offered options' labels, as the CRM's UI shows them (read in the sandbox)."""
    if crm.crm == "salesforce":
        field = sandbox.app.store.schema.get("Account").get(name)
        return dict(zip(field.picklist, field.picklist_labels, strict=True))
    definition = sandbox.app.store.companies.registry.get(name)
    return {o.value: o.label for o in definition.options if not o.hidden}


def _values(questions: dict[str, str]) -> dict[str, tuple[str, ...]]:
    return {
        "values": tuple(questions),
        "labels": tuple(questions.values()),
        "value_descriptions": tuple(f"Needs: {t}" for t in questions.values()),
    }
