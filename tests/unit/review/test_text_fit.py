"""The CRM texts fit their fields: validate warns, and the text is cut at a word boundary."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from kam_sync.cli.main import main
from kam_sync.config.loader import LoadedProject, load_project
from kam_sync.engine.crm_check import inspect_mapping
from kam_sync.rules import RULE_FILE_MODELS, GovernanceHistory, assess_portfolio, load_rule_pack
from tests.unit.engine.test_crm_check import connector, edited, org_matching, with_field
from tests.unit.rules.portfolio import AS_OF, accounts_frame, opportunities_frame


def test_a_crm_text_field_shorter_than_max_length_is_a_warning(salesforce_project: Path) -> None:
    project = load_project(salesforce_project)
    objects = with_field(
        org_matching(project), "Account", "KAM_Score_Explanation__c", type="textarea", length=255
    )
    found = inspect_mapping(project, connector(objects))
    assert not found.blocking
    (warning,) = found.warnings
    assert "KAM_Score_Explanation__c holds 255 characters, fewer than the 1000" in warning.message
    assert warning.file == project.files["mapping"] and warning.line is not None


def _project_with_a_short_target(salesforce_project: Path) -> LoadedProject:
    return edited(
        load_project(salesforce_project),
        "    label: KAM Score Explanation\n    length: 32768\n",
        "    label: KAM Score Explanation\n    length: 255\n",
    )


def test_a_short_target_lowers_the_explanation_length_and_validate_says_so(
    salesforce_project: Path,
) -> None:
    project = _project_with_a_short_target(salesforce_project)
    assert project.rules.scoring.explanation.max_length == 255
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["validate", "--project", str(salesforce_project), "--offline"])
    assert code == 0
    assert "warning:" in out.getvalue() and "explanation.max_length is 1000" in out.getvalue()
    accounts = accounts_frame(
        [{"id": "A", "relationship_strength": "strong", "contacts_engaged": 8,
          "executive_sponsor": "005X", "strategic_fit": "high", "public_company": True,
          "employees": 5000}]
    )  # fmt: skip
    result = assess_portfolio(
        accounts, opportunities_frame([]), GovernanceHistory.empty(), project.rules, AS_OF
    )
    text = result.assessments["score_explanation"][0]
    assert len(text) <= 255 and text.endswith("…")
    last = text.removesuffix("…").split()[-1]
    unfitted, _ = load_rule_pack({k: project.files[k] for k in RULE_FILE_MODELS})
    assert unfitted is not None
    full = assess_portfolio(
        accounts, opportunities_frame([]), GovernanceHistory.empty(), unfitted, AS_OF
    )
    assert last in full.assessments["score_explanation"][0].split()  # a whole word, not half
