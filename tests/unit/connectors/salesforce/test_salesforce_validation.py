"""What `kam-sync validate` learns from the connector: mapped fields and write-back targets."""

from __future__ import annotations

import responses
from conftest import SleepRecorder
from sf_fakes import describes, token_ok

from kam_sync_connectors.base import CustomFieldSpec
from kam_sync_connectors.salesforce import SalesforceSettings, connect


def test_mapped_fields_the_org_lacks_are_reported_with_suggestions(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    problems = sf.mapped_field_problems(
        "Account", ["Name", "AnualRevenue", "Owner.Name", "@AccountTeamMember.TeamMemberRole"]
    )

    assert problems == [
        "Account field AnualRevenue: Account has no field AnualRevenue "
        "(did you mean 'AnnualRevenue'?)"
    ]


def test_write_back_targets_are_checked_for_existence_type_access_and_picklist_values(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    problems = sf.write_back_problems(
        [
            CustomFieldSpec(
                "Account", "KAM_Tier__c", "KAM Tier", "picklist", values=("Key", "Watchlist")
            ),
            CustomFieldSpec("Account", "KAM_Score__c", "KAM Score", "number", precision=5, scale=2),
            CustomFieldSpec("Account", "KAM_Flags__c", "KAM Flags", "checkbox"),
            CustomFieldSpec("Account", "KAM_Formula__c", "Formula", "number"),
            CustomFieldSpec("Account", "KAM_Tierr__c", "KAM Tier", "picklist"),
        ]
    )

    assert problems == [
        "Account.KAM_Tier__c: picklist lacks 'Watchlist' (run `kam-sync provision` to add them)",
        "Account.KAM_Flags__c: exists as type multipicklist, kam-sync needs checkbox; change or "
        "delete the field, or map another one",
        "Account.KAM_Formula__c: exists but is not updateable (a formula or read-only field?)",
        "Account.KAM_Tierr__c: no such field (run `kam-sync provision`) "
        "(did you mean 'KAM_Tier__c'?)",
    ]
