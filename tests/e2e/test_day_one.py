"""Day one on a new org: the CRM has none of the KAM input fields the default mapping reads.

`init` with the defaults, `provision`, `doctor` and `validate` pass with the mapping untouched,
`run` writes; a person then ticks checklist questions through the CRM's API (in Salesforce
as a user holding the sales users' permission set `provision` made) and the next run's
checklist completion and plan stage move.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from kam_sync.config.loader import load_project
from tests.e2e.crm import SF_API, CrmHands, kam_sync_cli, sandbox_project

ANSWERS = {"salesforce": "KAM_Checklist_Answers__c", "hubspot": "kam_checklist_answers"}
PLAN_STARTED = {"salesforce": "KAM_Account_Plan_Started__c", "hubspot": "kam_account_plan_started"}
ROLES = {
    "salesforce": ("KAM_Team_Roles__c", "Technical Expert;Relationship Manager"),
    "hubspot": ("kam_team_roles", "technical_expert;relationship_manager"),
}
STAGE = {"salesforce": "KAM_Plan_Stage__c", "hubspot": "kam_plan_stage"}
COMPLETION = {"salesforce": "KAM_Checklist_Completion__c", "hubspot": "kam_checklist_completion"}


def _cli(project: Path, *args: str, env: dict[str, str]) -> Any:
    return kam_sync_cli(*args, "--project", str(project), env=env, cwd=project.parent)


def _wear_sales_user_permission_set(hands: CrmHands) -> None:
    """What an admin does after `provision`: assign the sales users' permission set (here to
    the sandbox's one user, who then edits the KAM inputs as a sales user would)."""
    base = f"{hands.handle.base_url}{SF_API}"
    found = hands.session.get(
        f"{base}/query",
        params={"q": "SELECT Id FROM PermissionSet WHERE Name = 'KAM_Sync_Users'"},
        timeout=30,
    ).json()["records"]
    assert found, "provision made the sales users' permission set"
    user = hands.handle.app.store.api_user_id
    response = hands.session.post(
        f"{base}/sobjects/PermissionSetAssignment",
        json={"PermissionSetId": found[0]["Id"], "AssigneeId": user},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def _update(hands: CrmHands, account_id: str, values: dict[str, Any]) -> requests.Response:
    obj = "Account" if hands.crm == "salesforce" else "companies"
    body = values if hands.crm == "salesforce" else {"properties": values}
    return hands.session.patch(hands._url(obj, account_id), json=body, timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_new_org_is_provisioned_checked_and_run_and_ticked_questions_move_the_plan(
    crm: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project, accounts=80, kam_inputs=False) as (handle, env):
        mapping_before = (project / "mappings" / f"{crm}.yaml").read_text()
        # The new org lacks the input fields: validate says so.
        assert _cli(project, "validate", env=env).returncode == 2

        provisioned = _cli(project, "provision", env=env)
        assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
        assert ANSWERS[crm] in provisioned.stdout
        assert "an admin still has to" in provisioned.stdout
        doctor = _cli(project, "doctor", env=env)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "FAIL" not in doctor.stdout
        validated = _cli(project, "validate", env=env)
        assert validated.returncode == 0, validated.stdout + validated.stderr
        assert (project / "mappings" / f"{crm}.yaml").read_text() == mapping_before

        first = _cli(project, "run", "--json", env=env)
        assert first.returncode in (0, 3), first.stderr
        assert json.loads(first.stdout)["accounts_written"] > 0

        hands = CrmHands.connect(crm, handle)
        before = hands.kam_values()
        programme = sorted(a for a, v in before.items() if v[STAGE[crm]])
        assert programme, "some accounts are in the key-account programme"
        account = programme[0]
        questions = [
            q.id
            for c in load_project(project).rules.checklist.categories.values()
            for q in c.questions
        ]
        if crm == "salesforce":
            # Without the sales users' permission set the integration user only reads inputs.
            refused = _update(hands, account, {ANSWERS[crm]: questions[0]})
            assert refused.status_code == 400, refused.text
            _wear_sales_user_permission_set(hands)
        # A multi-select takes only its options: a typed text is refused, as in the CRM.
        assert _update(hands, account, {ANSWERS[crm]: "we did this"}).status_code == 400
        roles_field, roles = ROLES[crm]
        ticked = _update(
            hands,
            account,
            {
                ANSWERS[crm]: ";".join(questions),
                PLAN_STARTED[crm]: dt.date.today().isoformat(),
                roles_field: roles,
            },
        )
        assert ticked.status_code in (200, 204), ticked.text
        if crm == "hubspot":
            time.sleep(handle.app.store.search_lag_seconds + 0.1)

        second = _cli(project, "run", "--json", env=env)
        assert second.returncode in (0, 3), second.stderr
        after = hands.kam_values()[account]
        assert float(after[COMPLETION[crm]]) == 100.0
        assert float(after[COMPLETION[crm]]) > float(before[account][COMPLETION[crm]] or 0)
        stages = ("strategy", "research", "action_plan", "execution", "review")

        def rank(value: str) -> int:
            return stages.index(value.lower().replace(" ", "_"))

        assert (
            rank(after[STAGE[crm]])
            >= stages.index("action_plan")
            > rank(before[account][STAGE[crm]])
        )

        # The checklist changes: one question added, one reworded, one removed.
        checklist = project / "rules" / "checklist.yaml"
        text = checklist.read_text()
        for old, new in (
            (
                "Can we state in one sentence the value we bring the customer today?",
                "Can we say in one sentence what value we bring the customer today?",
            ),
            (
                "      - id: value_08\n"
                "        text: Does our pricing reflect the size and length of the relationship?\n",
                "",
            ),
            (
                "      - id: unknowns_06\n",
                "      - id: unknowns_07\n        text: Do we know who else the customer "
                "is talking to?\n      - id: unknowns_06\n",
            ),
        ):
            assert old in text
            text = text.replace(old, new)
        checklist.write_text(text)
        stale = _cli(project, "validate", env=env)
        assert stale.returncode == 2
        assert "out of date with rules/checklist.yaml" in stale.stderr
        assert "unknowns_07" in stale.stderr and "value_08" in stale.stderr
        updated = _cli(project, "provision", env=env)
        assert updated.returncode == 0, updated.stdout + updated.stderr
        assert ANSWERS[crm] in updated.stdout.split("updated:", 1)[1].splitlines()[0]
        assert _cli(project, "validate", env=env).returncode == 0
        # The account keeps its ticks; the removed question no longer counts and the new one
        # is not answered yet: 56 of 57.
        third = _cli(project, "run", "--json", env=env)
        assert third.returncode in (0, 3), third.stderr
        completion = float(hands.kam_values()[account][COMPLETION[crm]])
        assert completion == pytest.approx(100 * 56 / 57, abs=0.01)
