"""SOQL from the mapping: names checked against describe, literals escaped."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sf_fakes import ACCOUNT_DESCRIBE, TEAM_DESCRIBE, USER_DESCRIBE

from kam_sync.errors import ConfigError
from kam_sync_connectors.salesforce import soql
from kam_sync_connectors.salesforce.describe import SObjectSchema, parse_describe

SCHEMAS = {b["name"]: parse_describe(b) for b in (ACCOUNT_DESCRIBE, USER_DESCRIBE, TEAM_DESCRIBE)}


def describe(name: str) -> SObjectSchema:
    return SCHEMAS[name]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("O'Brien", r"'O\'Brien'"),
        ("back\\slash", r"'back\\slash'"),
        ("x' OR Name != '", r"'x\' OR Name != \''"),
        ('say "hi"\n', r"'say \"hi\"\n'"),
        (None, "null"),
        (True, "true"),
        (Decimal("250000.50"), "250000.50"),
        (date(2026, 3, 1), "2026-03-01"),
        (datetime(2026, 3, 1, 12, 0, 5, 999, tzinfo=UTC), "2026-03-01T12:00:05Z"),
    ],
)
def test_literals_are_quoted_and_escaped(value: object, expected: str) -> None:
    assert soql.literal(value) == expected


def test_an_injected_quote_cannot_end_the_string_literal() -> None:
    text = soql.literal("a\\' OR Id != null OR Name = \\'")
    body = text[1:-1]
    # every quote inside is preceded by an odd number of backslashes, i.e. escaped
    for index, char in enumerate(body):
        if char == "'":
            run = len(body[:index]) - len(body[:index].rstrip("\\"))
            assert run % 2 == 1


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        soql.literal(datetime(2026, 1, 1))


def test_record_ids_are_checked_before_they_reach_a_query() -> None:
    assert soql.id_literal("001000000000001AAA") == "'001000000000001AAA'"
    with pytest.raises(ValueError):
        soql.id_literal("001' OR Id != '")


def test_the_incremental_query_selects_mapped_fields_in_modstamp_order() -> None:
    selection = soql.select_fields(
        SCHEMAS["Account"],
        ["Id", "SystemModstamp", "Name", "Owner.Name", "@AccountTeamMember.TeamMemberRole"],
        describe,
    )
    text = soql.incremental_query(
        "Account",
        selection,
        modified_field="SystemModstamp",
        id_field="Id",
        since=datetime(2026, 11, 1, tzinfo=UTC),
        until=datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert text == (
        "SELECT Id, SystemModstamp, Name, Owner.Name, "
        "(SELECT TeamMemberRole FROM AccountTeamMembers WHERE IsDeleted = false) FROM Account "
        "WHERE SystemModstamp >= 2026-11-01T00:00:00Z AND SystemModstamp <= 2026-11-02T03:04:05Z "
        "ORDER BY SystemModstamp ASC, Id ASC"
    )
    # queryAll would return deleted team members in the subquery; their parents are found by
    # the children's own stamps (the parent's does not move).
    (roles,) = selection.related
    assert soql.changed_children_query(
        roles,
        modified_field="SystemModstamp",
        since=datetime(2026, 11, 1, tzinfo=UTC),
        until=datetime(2026, 11, 2, tzinfo=UTC),
    ) == (
        "SELECT AccountId FROM AccountTeamMember WHERE SystemModstamp >= 2026-11-01T00:00:00Z "
        "AND SystemModstamp <= 2026-11-02T00:00:00Z"
    )


def test_unknown_fields_are_all_reported_with_suggestions() -> None:
    with pytest.raises(ConfigError) as caught:
        soql.select_fields(
            SCHEMAS["Account"],
            [
                "Nmae",
                "Owner.Nam",
                "Onwer.Name",
                "@AccountTeamMember.TeamMemberRoel",
                "Name; DELETE",
            ],
            describe,
        )
    messages = [issue.message for issue in caught.value.issues]
    assert len(messages) == 5
    text = "\n".join(messages)
    assert "did you mean 'Name'?" in text
    assert "did you mean 'Owner'?" in text
    assert "did you mean 'TeamMemberRole'?" in text
    assert "is not a Salesforce API name" in text
