"""What `kam-sync validate` learns from the connector: mapped fields and write-back targets."""

from __future__ import annotations

import responses
from sf_fakes import SleepRecorder, describes, token_ok

from kam_sync_connectors.salesforce import SalesforceSettings, connect


def test_mapped_fields_the_org_lacks_are_reported_with_suggestions(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    problems = sf.mapped_field_problems(
        "Account",
        ["Name", "AnualRevenue", "Owner.Name", "Owner.Nmae", "@AccountTeamMember.TeamMemberRole"],
    )

    assert problems == [
        "Account field AnualRevenue: Account has no field AnualRevenue "
        "(did you mean 'AnnualRevenue'?)",
        "Account field Owner.Nmae: User has no field Nmae (did you mean 'Name'?)",
    ]
