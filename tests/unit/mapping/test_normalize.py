"""Normalizing what CRMs really send: dirty values become canonical ones or a record error."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from kam_sync.config.located import load_located
from kam_sync.config.mapping import MappingFile
from kam_sync.config.validate import validate_document
from kam_sync.default_files import default_files
from kam_sync.errors import RecordError
from kam_sync.mapping.coerce import to_datetime, to_decimal, to_text_list
from kam_sync.mapping.normalize import Normalizer


def _mapping(crm: str) -> MappingFile:
    doc, issues = load_located(default_files("mappings")[f"{crm}.yaml"])
    assert doc is not None and not issues
    mapping, issues = validate_document(doc, MappingFile)
    assert mapping is not None and not issues
    return mapping


@pytest.fixture(scope="module")
def sf_accounts() -> Normalizer:
    m = _mapping("salesforce")
    return Normalizer("account", m.objects.account, m.write_back)


@pytest.fixture(scope="module")
def sf_opportunities() -> Normalizer:
    return Normalizer("opportunity", _mapping("salesforce").objects.opportunity)


@pytest.fixture(scope="module")
def hs_accounts() -> Normalizer:
    m = _mapping("hubspot")
    return Normalizer("account", m.objects.account, m.write_back)


@pytest.fixture(scope="module")
def hs_deals() -> Normalizer:
    return Normalizer("opportunity", _mapping("hubspot").objects.opportunity)


def _ok(result: dict[str, Any] | RecordError) -> dict[str, Any]:
    assert not isinstance(result, RecordError), str(result)
    return result


def test_salesforce_account_with_nulls_strings_and_sf_datetimes(sf_accounts: Normalizer) -> None:
    raw = {
        "Id": "001000000000001AAA",
        "Name": "  Acme Corp ",
        "ParentId": None,
        "Industry": "",
        "NumberOfEmployees": "1200",
        "AnnualRevenue": 125000000.1,
        "SystemModstamp": "2024-05-01T12:00:00.000+0000",
        "CreatedDate": "2020-01-02T03:04:05.000+0200",
        "IsDeleted": False,
        "KAM_Relationship_Strength__c": "Strategic Partner",
        "KAM_Team_Roles__c": "Innovator;Results Driver;;Innovator",
        "KAM_Competitors__c": "Globex; Initech",
        "KAM_Last_Review_Date__c": "2024-03-31",
        "KAM_Public_Company__c": "true",
        "KAM_Tier__c": "Key",
        "KAM_Flags__c": "Over Cap;Review Due",
    }
    record = _ok(sf_accounts.normalize(raw))
    assert record["id"] == "001000000000001AAA"
    assert record["name"] == "Acme Corp"
    assert record["industry"] is None  # empty string means no value
    assert record["employees"] == 1200
    assert record["annual_revenue"] == Decimal("125000000.1")
    assert isinstance(record["annual_revenue"], Decimal)
    assert record["modified_at"] == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert record["created_at"] == datetime(2020, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert record["relationship_strength"] == "strategic_partner"
    assert record["team_roles"] == ["innovator", "results_driver"]
    assert record["competitors"] == ["Globex", "Initech"]
    assert record["last_review_date"] == date(2024, 3, 31)
    assert record["public_company"] is True
    # Current KAM outputs are read back in canonical words.
    assert record["kam_tier"] == "key"
    assert record["kam_flags"] == ["over_cap", "review_due"]


def test_hubspot_company_with_epoch_millis_and_iso_z(hs_accounts: Normalizer) -> None:
    raw = {
        "hs_object_id": "9876",
        "name": "Initech",
        "numberofemployees": "55",
        "annualrevenue": "1000000.50",
        "createdate": "1700000000000",
        "hs_lastmodifieddate": "2024-05-01T12:00:00.123Z",
        "archived": False,
        "kam_public_company": "false",
        "kam_last_review_date": 1711843200000,
        "kam_team_roles": "innovator;collaborator",
        "@associations.parent_company": "1234",
    }
    record = _ok(hs_accounts.normalize(raw))
    assert record["created_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert record["modified_at"] == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert record["annual_revenue"] == Decimal("1000000.50")
    assert record["public_company"] is False
    assert record["last_review_date"] == date(2024, 3, 31)
    assert record["team_roles"] == ["innovator", "collaborator"]
    assert record["parent_id"] == "1234"
    assert record["is_deleted"] is False


def test_hubspot_probability_share_becomes_percent(hs_deals: Normalizer) -> None:
    raw = {
        "hs_object_id": "5",
        "@associations.companies": "9876",
        "hs_deal_stage_probability": "0.4",
        "hs_lastmodifieddate": "2024-05-01T12:00:00Z",
        "amount": "",
        "dealtype": "renewal",
        "closedate": "2024-06-30T00:00:00Z",
        "hs_is_closed_won": "false",
    }
    record = _ok(hs_deals.normalize(raw))
    assert record["probability"] == pytest.approx(40.0)
    assert record["amount"] is None
    assert record["opportunity_type"] == "renewal"
    assert record["close_date"] == date(2024, 6, 30)
    assert record["is_won"] is False


def test_opportunity_type_value_map_and_unmapped_becomes_null(sf_opportunities: Normalizer) -> None:
    base = {"Id": "006A", "AccountId": "001A", "SystemModstamp": "2024-01-01T00:00:00.000+0000"}
    assert (
        _ok(sf_opportunities.normalize(base | {"Type": "Renewal"}))["opportunity_type"] == "renewal"
    )
    assert (
        _ok(sf_opportunities.normalize(base | {"Type": "Partner Deal"}))["opportunity_type"] is None
    )


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        ({"NumberOfEmployees": "lots"}, "employees", "expected a whole number"),
        ({"NumberOfEmployees": 12.5}, "employees", "expected a whole number"),
        ({"AnnualRevenue": "NaN"}, "annual_revenue", "finite"),
        ({"SystemModstamp": "yesterday"}, "modified_at", "expected a date-time"),
        ({"SystemModstamp": None}, "modified_at", "required"),
        ({"KAM_Public_Company__c": "maybe"}, "public_company", "expected true or false"),
        (
            {"KAM_Relationship_Strength__c": "Frenemies"},
            "relationship_strength",
            "not in the value map",
        ),
    ],
)
def test_a_bad_value_is_a_record_error_naming_id_field_and_reason(
    sf_accounts: Normalizer, raw: dict[str, Any], field: str, reason: str
) -> None:
    base = {"Id": "001BAD", "SystemModstamp": "2024-01-01T00:00:00.000+0000"}
    result = sf_accounts.normalize(base | raw)
    assert isinstance(result, RecordError)
    assert result.record_id == "001BAD"
    assert result.field == field
    assert reason in result.reason


def test_a_record_without_id_is_a_record_error(sf_accounts: Normalizer) -> None:
    result = sf_accounts.normalize({"Name": "ghost", "SystemModstamp": "2024-01-01T00:00:00Z"})
    assert isinstance(result, RecordError)
    assert result.field == "id"


def test_coercers_handle_the_shapes_crms_send() -> None:
    assert to_datetime("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert to_datetime("2024-05-01T12:00:00") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert to_datetime(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert to_decimal(0.1) == Decimal("0.1")  # not 0.1000000000000000055...
    assert to_decimal("1,250,000.00") == Decimal("1250000.00")
    assert to_text_list(["a", "", "a", "b"]) == ["a", "b"]
    assert to_text_list(None) == []


def _sf_opportunity(**values: Any) -> dict[str, Any]:
    return {
        "Id": "006000000000001AAA",
        "AccountId": "001000000000001AAA",
        "SystemModstamp": "2026-11-01T10:00:00.000+0000",
        **values,
    }


def test_a_won_deal_with_a_negative_amount_is_set_aside_with_a_reason(
    sf_opportunities: Normalizer,
) -> None:
    result = sf_opportunities.normalize(_sf_opportunity(Amount=-500.0, IsWon=True, IsClosed=True))
    assert isinstance(result, RecordError)
    assert result.field == "amount" and "won deal with a negative amount" in result.reason
    lost = _ok(sf_opportunities.normalize(_sf_opportunity(Amount=-500.0, IsWon=False)))
    assert lost["amount"] == Decimal("-500.0"), "a negative open or lost deal is not impossible"


def test_numbers_beyond_what_the_store_keeps_are_set_aside_without_their_value(
    hs_accounts: Normalizer, sf_opportunities: Normalizer
) -> None:
    base = {"hs_object_id": "1", "hs_lastmodifieddate": "2026-11-01T10:00:00Z"}
    huge = _ok(hs_accounts.normalize({**base, "annualrevenue": "999999999999999999"}))
    assert huge["annual_revenue"] == Decimal("999999999999999999")
    too_big = hs_accounts.normalize({**base, "annualrevenue": "1e30"})
    assert isinstance(too_big, RecordError) and "digits before the decimal point" in too_big.reason
    crowd = hs_accounts.normalize({**base, "numberofemployees": "1e30"})
    assert isinstance(crowd, RecordError) and crowd.field == "employees"
    assert "1e30" not in crowd.reason and "1e30" not in too_big.reason
    absurd = hs_accounts.normalize({**base, "numberofemployees": "1e999999999"})
    assert isinstance(absurd, RecordError)


def test_a_deleted_opportunity_without_an_account_normalizes_by_its_id_alone(
    sf_opportunities: Normalizer,
) -> None:
    record = _ok(sf_opportunities.normalize(_sf_opportunity(AccountId=None, IsDeleted=True)))
    assert record["is_deleted"] is True and record["account_id"] is None
    live = sf_opportunities.normalize(_sf_opportunity(AccountId=None))
    assert isinstance(live, RecordError) and live.field == "account_id"


def test_text_with_a_nul_character_is_set_aside_as_no_store_can_keep_it(
    hs_accounts: Normalizer,
) -> None:
    raw = {"hs_object_id": "1", "hs_lastmodifieddate": "2026-11-01T10:00:00Z", "name": "Ac\x00me"}
    result = hs_accounts.normalize(raw)
    assert isinstance(result, RecordError) and result.field == "name"
    assert "NUL" in result.reason
