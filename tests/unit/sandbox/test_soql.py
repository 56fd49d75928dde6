"""The SOQL subset: what parses, what Salesforce would refuse, and how queries evaluate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from kam_sync.sandbox.salesforce.ids import make_id
from kam_sync.sandbox.salesforce.projection import compile_renderer
from kam_sync.sandbox.salesforce.query import QueryCompiler
from kam_sync.sandbox.salesforce.query_exec import SortedViews, run_query
from kam_sync.sandbox.salesforce.soql import Comparison, SoqlError, parse_soql
from kam_sync.sandbox.salesforce.store import SalesforceStore

TODAY = dt.date(2026, 11, 27)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_select_with_relationship_fields_where_order_limit_offset_parses() -> None:
    query = parse_soql(
        "select Id, Owner.Name from Account where (Industry = 'Retail' or Industry = null) "
        "and not Name like 'A%' order by Name desc nulls first, Id limit 10 offset 5"
    )
    assert [f.text for f in query.fields] == ["Id", "Owner.Name"]
    assert query.sobject == "Account"
    assert query.order_by[0].descending and not query.order_by[0].nulls_last
    assert query.order_by[1].nulls_last is False
    assert (query.limit, query.offset) == (10, 5)


def test_mixing_and_with_or_without_parentheses_is_malformed_as_in_soql() -> None:
    with pytest.raises(SoqlError) as caught:
        parse_soql("SELECT Id FROM Account WHERE Name = 'a' AND Type = 'b' OR Id = null")
    assert caught.value.code == "MALFORMED_QUERY"
    assert "unexpected token: OR" in caught.value.message
    assert "ERROR at Row:1:Column:" in caught.value.message


@pytest.mark.parametrize(
    "text",
    [
        "SELECT FROM Account",
        "SELECT Id Account",
        "SELECT Id FROM Account WHERE",
        "SELECT Id FROM Account WHERE Name = ",
        "SELECT Id FROM Account LIMIT x",
        "SELECT Id, FROM Account",
        "SELECT Id FROM Account WHERE Name ~ 'x'",
        "",
    ],
)
def test_broken_queries_are_malformed(text: str) -> None:
    with pytest.raises(SoqlError) as caught:
        parse_soql(text)
    assert caught.value.code == "MALFORMED_QUERY"


def test_string_escapes_and_date_literals_are_understood() -> None:
    query = parse_soql(
        r"SELECT Id FROM Account WHERE Name = 'O\'Brien' AND CreatedDate > LAST_N_DAYS:30"
    )
    assert query.where is not None
    comparisons = query.where.items  # type: ignore[union-attr]
    first = comparisons[0]
    assert isinstance(first, Comparison)
    assert first.value.value == "O'Brien"  # type: ignore[union-attr]


# -- evaluation --------------------------------------------------------------------------


def _store() -> SalesforceStore:
    store = SalesforceStore(clock=lambda: T0)
    owner = make_id("User", 1)
    store.put_seed(
        "User",
        {"Id": owner, "IsDeleted": False, "Name": "Ada Owner", "FirstName": "Ada",
         "LastName": "Owner", "Username": "ada@x.org", "Email": "ada@x.org"},
    )  # fmt: skip
    rows: list[dict[str, Any]] = [
        {"Name": "Acme", "Industry": "Retail", "AnnualRevenue": Decimal(500)},
        {"Name": "beta", "Industry": None, "AnnualRevenue": Decimal(100)},
        {"Name": "Gamma", "Industry": "Energy", "AnnualRevenue": None},
        {"Name": "delta", "Industry": "retail", "AnnualRevenue": Decimal(900),
         "KAM_Team_Roles__c": "Innovator;Results Driver"},
    ]  # fmt: skip
    for number, row in enumerate(rows, start=1):
        store.put_seed(
            "Account",
            {
                "Id": make_id("Account", number),
                "IsDeleted": False,
                "OwnerId": owner,
                "ParentId": make_id("Account", 1) if number == 2 else None,
                "CreatedDate": T0 - dt.timedelta(days=number * 10),
                "SystemModstamp": T0 + dt.timedelta(hours=number),
                **row,
            },
        )
    return store


def _run(store: SalesforceStore, text: str, *, include_deleted: bool = False) -> list[str]:
    compiler = QueryCompiler(store, today=lambda: TODAY)
    compiled = compiler.compile(parse_soql(text))
    rows = run_query(compiled, SortedViews(store), include_deleted=include_deleted)
    return [r["Name"] for r in rows]


def test_text_equality_and_like_ignore_case_as_in_soql() -> None:
    store = _store()
    assert _run(store, "SELECT Id FROM Account WHERE Industry = 'RETAIL' ORDER BY Name") == [
        "Acme",
        "delta",
    ]
    assert _run(store, "SELECT Id FROM Account WHERE Name LIKE '%ETA'") == ["beta"]


def test_not_equal_matches_null_values_unlike_sql() -> None:
    names = _run(store := _store(), "SELECT Id FROM Account WHERE Industry != 'Energy'")
    assert sorted(names) == ["Acme", "beta", "delta"]
    assert _run(store, "SELECT Id FROM Account WHERE Industry = null") == ["beta"]


def test_in_not_in_and_numeric_ranges_filter_records() -> None:
    store = _store()
    assert _run(store, "SELECT Id FROM Account WHERE Industry IN ('energy', 'x')") == ["Gamma"]
    assert sorted(_run(store, "SELECT Id FROM Account WHERE AnnualRevenue >= 500")) == [
        "Acme",
        "delta",
    ]
    assert "Gamma" in _run(store, "SELECT Id FROM Account WHERE Industry NOT IN ('Retail')")


def test_datetime_literals_compare_with_datetime_fields() -> None:
    store = _store()
    names = _run(store, "SELECT Id FROM Account WHERE SystemModstamp > 2026-01-01T02:30:00Z")
    assert sorted(names) == ["Gamma", "delta"]
    names = _run(store, "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:400")
    assert len(names) == 4


def test_a_date_literal_against_a_datetime_field_is_refused() -> None:
    with pytest.raises(SoqlError) as caught:
        _run(_store(), "SELECT Id FROM Account WHERE CreatedDate > 2026-01-01")
    assert caught.value.code == "INVALID_FIELD"
    assert "must be of type dateTime" in caught.value.message


def test_order_by_puts_nulls_first_ascending_and_last_descending() -> None:
    store = _store()
    ascending = _run(store, "SELECT Id FROM Account ORDER BY AnnualRevenue")
    descending = _run(store, "SELECT Id FROM Account ORDER BY AnnualRevenue DESC")
    assert ascending == ["Gamma", "beta", "Acme", "delta"]
    assert descending == ["delta", "Acme", "beta", "Gamma"]
    assert _run(store, "SELECT Id FROM Account ORDER BY Name LIMIT 2 OFFSET 1") == [
        "beta",
        "delta",
    ]


def test_includes_matches_multi_select_picklist_values() -> None:
    store = _store()
    text = "SELECT Id FROM Account WHERE KAM_Team_Roles__c INCLUDES ('Innovator')"
    assert _run(store, text) == ["delta"]


def test_ids_match_in_their_15_and_18_character_forms() -> None:
    store = _store()
    account = make_id("Account", 3)
    assert _run(store, f"SELECT Id FROM Account WHERE Id = '{account[:15]}'") == ["Gamma"]
    with pytest.raises(SoqlError) as caught:
        _run(store, "SELECT Id FROM Account WHERE Id = 'nonsense'")
    assert caught.value.code == "INVALID_QUERY_FILTER_OPERATOR"


def test_deleted_records_are_only_seen_by_query_all() -> None:
    store = _store()
    store.delete("Account", make_id("Account", 1))
    assert "Acme" not in _run(store, "SELECT Id FROM Account")
    assert _run(store, "SELECT Id FROM Account WHERE IsDeleted = true", include_deleted=True) == [
        "Acme"
    ]


def test_unknown_fields_objects_and_relationships_name_the_culprit() -> None:
    store = _store()
    cases = {
        "SELECT Nme FROM Account": ("INVALID_FIELD", "No such column 'Nme' on entity 'Account'"),
        "SELECT Id FROM Acount": ("INVALID_TYPE", "sObject type 'Acount' is not supported"),
        "SELECT Ownr.Name FROM Account": ("INVALID_FIELD", "relationship 'Ownr'"),
        "SELECT Owner.Nme FROM Account": ("INVALID_FIELD", "No such column 'Nme' on entity 'User'"),
    }
    for text, (code, message) in cases.items():
        with pytest.raises(SoqlError) as caught:
            _run(store, text)
        assert caught.value.code == code
        assert message in caught.value.message


def test_projection_nests_parent_fields_with_attributes_and_formats_values() -> None:
    store = _store()
    compiled = QueryCompiler(store, today=lambda: TODAY).compile(
        parse_soql(
            "SELECT Name, Owner.Name, Parent.Name, SystemModstamp, AnnualRevenue FROM Account "
            "ORDER BY Id"
        )
    )
    rows = run_query(compiled, SortedViews(store), include_deleted=False)
    render = compile_renderer(compiled.projection, store, "/services/data/v59.0/", False)
    second = render(rows[1])
    assert second["attributes"]["type"] == "Account"
    assert second["attributes"]["url"].endswith(f"/sobjects/Account/{make_id('Account', 2)}")
    assert second["Owner"]["Name"] == "Ada Owner"
    assert second["Owner"]["attributes"]["type"] == "User"
    assert second["Parent"]["Name"] == "Acme"
    assert second["SystemModstamp"] == "2026-01-01T02:00:00.000+0000"
    # Currency goes out as a JSON double, as the REST API sends it.
    assert isinstance(second["AnnualRevenue"], float)
    assert second["AnnualRevenue"] == 100.0
    first = render(rows[0])
    assert first["Parent"] is None


def test_range_conditions_on_the_leading_sort_field_match_a_full_scan() -> None:
    store = _store()
    cases = [
        "SystemModstamp > 2026-01-01T01:00:00Z",
        "SystemModstamp >= 2026-01-01T02:00:00Z AND SystemModstamp < 2026-01-01T04:00:00Z",
        "SystemModstamp > 2026-01-01T01:00:00Z AND Industry = 'retail'",
        "SystemModstamp <= 2025-01-01T00:00:00Z",
    ]
    for where in cases:
        sorted_names = _run(store, f"SELECT Id FROM Account WHERE {where} ORDER BY SystemModstamp")
        scanned = _run(store, f"SELECT Id FROM Account WHERE {where} ORDER BY Name")
        assert sorted(sorted_names) == sorted(scanned), where
        assert sorted_names == sorted(sorted_names, key=["Acme", "beta", "Gamma", "delta"].index)


def test_a_range_on_a_nullable_leading_sort_field_never_matches_nulls() -> None:
    store = _store()
    text = "SELECT Id FROM Account WHERE AnnualRevenue < 600 ORDER BY AnnualRevenue"
    assert _run(store, text) == ["beta", "Acme"]
    text = "SELECT Id FROM Account WHERE AnnualRevenue > 50 ORDER BY AnnualRevenue NULLS LAST"
    assert _run(store, text) == ["beta", "Acme", "delta"]


def test_a_write_invalidates_the_cached_sort_order() -> None:
    store = _store()
    views = SortedViews(store)
    compiler = QueryCompiler(store, today=lambda: TODAY)
    compiled = compiler.compile(parse_soql("SELECT Id FROM Account ORDER BY Name"))
    assert next(r["Name"] for r in run_query(compiled, views, include_deleted=False)) == "Acme"
    store.human_edit("Account", make_id("Account", 1), Name="Zulu")
    assert [r["Name"] for r in run_query(compiled, views, include_deleted=False)][-1] == "Zulu"


def test_18_character_ids_carry_salesforces_case_checksum() -> None:
    from kam_sync.sandbox.salesforce.ids import checksum_suffix, normalize_id

    # The worked example of Salesforce's 15-to-18 character id conversion.
    assert checksum_suffix("001A0000006Vm9r") == "IAC"
    assert normalize_id("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert normalize_id("001A0000006Vm9rIAB") is None
    assert normalize_id("001A0000006Vm9") is None


def test_id_in_lists_fetch_only_those_records_and_still_apply_every_condition() -> None:
    store = _store()
    ids = ", ".join(f"'{make_id('Account', n)}'" for n in (4, 1, 3, 99))
    assert _run(store, f"SELECT Id FROM Account WHERE Id IN ({ids}) ORDER BY Name") == [
        "Acme",
        "delta",
        "Gamma",
    ]
    text = f"SELECT Id FROM Account WHERE Id IN ({ids}) AND AnnualRevenue > 600"
    assert _run(store, text) == ["delta"]
    store.delete("Account", make_id("Account", 4))
    assert "delta" not in _run(store, f"SELECT Id FROM Account WHERE Id IN ({ids})")


def test_parent_to_child_subqueries_nest_the_children_of_each_record() -> None:
    from kam_sync.sandbox.salesforce.query_exec import ChildIndex, child_blocks

    store = _store()
    for number, (account, role) in enumerate([(1, "Innovator"), (1, "Collaborator"), (3, None)]):
        store.put_seed(
            "AccountTeamMember",
            {"Id": make_id("AccountTeamMember", number + 1), "IsDeleted": False,
             "AccountId": make_id("Account", account), "UserId": make_id("User", 1),
             "TeamMemberRole": role},
        )  # fmt: skip
    compiled = QueryCompiler(store, today=lambda: TODAY).compile(
        parse_soql(
            "SELECT Name, (SELECT TeamMemberRole FROM AccountTeamMembers "
            "WHERE TeamMemberRole != null ORDER BY TeamMemberRole) FROM Account ORDER BY Id"
        )
    )
    child = compiled.children[0]
    render_child = compile_renderer(child.compiled.projection, store, "/v/", False)
    block = child_blocks(child, ChildIndex(store), render_child, include_deleted=False)
    render = compile_renderer(
        compiled.projection, store, "/v/", False, [(child.relationship, block)]
    )
    rows = [render(r) for r in run_query(compiled, SortedViews(store), include_deleted=False)]
    team = rows[0]["AccountTeamMembers"]
    assert (team["totalSize"], team["done"]) == (2, True)
    assert [m["TeamMemberRole"] for m in team["records"]] == ["Collaborator", "Innovator"]
    assert team["records"][0]["attributes"]["type"] == "AccountTeamMember"
    assert rows[1]["AccountTeamMembers"] is None
    assert rows[2]["AccountTeamMembers"] is None  # its only member has no role


def test_an_unknown_child_relationship_is_refused() -> None:
    with pytest.raises(SoqlError) as caught:
        _run(_store(), "SELECT Id, (SELECT Id FROM Teams) FROM Account")
    assert caught.value.code == "INVALID_TYPE"
    assert "relationship 'Teams'" in caught.value.message
