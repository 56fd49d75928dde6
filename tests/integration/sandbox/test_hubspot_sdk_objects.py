"""hubspot-api-client, unmodified, against the sandbox over HTTP: objects, batches, search."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.companies import ApiException as CompanyApiException
from hubspot.crm.companies import (
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
)
from hubspot.crm.deals import ApiException as DealApiException

from kam_sync.sandbox.hubspot.app import HubSpotApp
from kam_sync.sandbox.portfolio import Portfolio, generate_portfolio
from kam_sync.sandbox.server import SandboxServer

ACCOUNTS = 60


@pytest.fixture(scope="module")
def portfolio() -> Portfolio:
    return generate_portfolio(ACCOUNTS, seed=11)


@pytest.fixture
def sandbox(portfolio: Portfolio) -> Iterator[tuple[HubSpotApp, SandboxServer]]:
    app = HubSpotApp(portfolio, rate_limit_tier=250, search_per_second=1000)
    server = SandboxServer(app)
    app.bind(stats=server.stats, faults=server.faults)
    server.start()
    try:
        yield app, server
    finally:
        server.stop()


@pytest.fixture
def client(sandbox: tuple[HubSpotApp, SandboxServer]) -> HubSpot:
    app, server = sandbox
    return HubSpot(access_token=app.access_token, host=server.base_url)


def error_body(exc: Exception) -> dict[str, object]:
    body = json.loads(exc.body)  # type: ignore[attr-defined]
    assert isinstance(body, dict)
    return body


def test_get_page_walks_every_company_once_by_following_paging_next_after(
    client: HubSpot, portfolio: Portfolio
) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = client.crm.companies.basic_api.get_page(limit=25, after=after)
        pages += 1
        seen.extend(r.id for r in page.results)
        if page.paging is None:
            break
        after = page.paging.next.after
        assert page.paging.next.link.endswith(f"after={after}")
    assert pages == 3
    assert len(seen) == len(set(seen)) == ACCOUNTS
    first = client.crm.companies.basic_api.get_page(limit=1).results[0]
    # Without `properties`, HubSpot returns the object's default properties.
    assert set(first.properties) == {
        "createdate",
        "domain",
        "hs_lastmodifieddate",
        "hs_object_id",
        "name",
    }
    assert first.properties["hs_object_id"] == first.id
    assert first.created_at.tzinfo is not None and first.archived is False


def test_get_page_returns_requested_properties_with_null_for_empty_ones(
    client: HubSpot, portfolio: Portfolio
) -> None:
    page = client.crm.companies.basic_api.get_page(
        limit=100, properties=["name", "kam_tier_override", "annualrevenue", "no_such_property"]
    )
    # Requested properties (unknown ones left out) plus the stamps and id HubSpot always sends.
    expected = {"name", "kam_tier_override", "annualrevenue", "createdate", "hs_lastmodifieddate"}
    assert all(set(r.properties) == {*expected, "hs_object_id"} for r in page.results)
    by_id = {r.id: r.properties for r in page.results}
    for company in portfolio.companies:
        props = by_id[str(9_000_000_000 + company.key)]
        assert props["name"] == (company.name or None)
        override = company.kam.tier_override if company.kam else None
        assert props["kam_tier_override"] == override


def test_get_page_with_associations_lists_each_companys_deals(
    client: HubSpot, portfolio: Portfolio
) -> None:
    page = client.crm.companies.basic_api.get_page(limit=100, associations=["deals"])
    company = next(c for c in page.results if c.associations)
    deal_ids = {a.id for a in company.associations["deals"].results}
    expected = {
        str(12_000_000_000 + d.key)
        for d in portfolio.deals
        if d.company_key is not None and str(9_000_000_000 + d.company_key) == company.id
    }
    assert deal_ids == expected
    assert {a.type for a in company.associations["deals"].results} == {"company_to_deal"}


def test_list_limit_above_100_is_refused_with_a_hubspot_error_body(client: HubSpot) -> None:
    with pytest.raises(CompanyApiException) as caught:
        client.crm.companies.basic_api.get_page(limit=101)
    assert caught.value.status == 400
    body = error_body(caught.value)
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR"
    assert body["correlationId"]


def test_archived_records_leave_the_list_and_appear_with_archived_true(
    client: HubSpot, sandbox: tuple[HubSpotApp, SandboxServer]
) -> None:
    app, _ = sandbox
    gone = app.store.company_id(3)
    app.store.archive("companies", gone)
    live = client.crm.companies.basic_api.get_page(limit=100)
    assert gone not in {r.id for r in live.results}
    archived = client.crm.companies.basic_api.get_page(limit=100, archived=True)
    assert [r.id for r in archived.results] == [gone]
    assert archived.results[0].archived is True and archived.results[0].archived_at is not None


def test_batch_update_reports_per_record_failures_in_a_207_matched_by_trace_id(
    client: HubSpot, sandbox: tuple[HubSpotApp, SandboxServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, server = sandbox
    # The lax form; by default one invalid value refuses the whole batch, as real portals do.
    monkeypatch.setattr(app, "invalid_values", "per_record")
    good, bad_option, unknown_prop = (app.store.company_id(k) for k in (1, 2, 4))
    before = client.crm.companies.basic_api.get_by_id(good, properties=["hs_lastmodifieddate"])
    response = client.crm.companies.batch_api.update(
        batch_input_simple_public_object_batch_input={
            "inputs": [
                {
                    "id": good,
                    "properties": {"kam_relationship_strength": "strong"},
                    "objectWriteTraceId": "t-good",
                },
                {
                    "id": bad_option,
                    "properties": {"kam_strategic_fit": "enormous"},
                    "objectWriteTraceId": "t-option",
                },
                {"id": "999", "properties": {"name": "Ghost"}, "objectWriteTraceId": "t-missing"},
                {
                    "id": unknown_prop,
                    "properties": {"no_such": "x"},
                    "objectWriteTraceId": "t-prop",
                },
            ]
        }
    )
    assert isinstance(response, BatchResponseSimplePublicObjectWithErrors)
    assert response.status == "COMPLETE" and response.num_errors == 3
    failed = {e.context["objectWriteTraceId"][0]: e for e in response.errors}
    assert set(failed) == {"t-option", "t-missing", "t-prop"}
    assert failed["t-option"].category == "VALIDATION_ERROR"
    assert "INVALID_OPTION" in failed["t-option"].message
    assert failed["t-missing"].category == "OBJECT_NOT_FOUND"
    assert failed["t-missing"].context["ids"] == ["999"]
    assert "PROPERTY_DOESNT_EXIST" in failed["t-prop"].message
    assert [r.id for r in response.results] == [good]
    assert response.results[0].object_write_trace_id == "t-good"
    after = client.crm.companies.basic_api.get_by_id(
        good, properties=["hs_lastmodifieddate", "kam_relationship_strength"]
    )
    assert after.properties["kam_relationship_strength"] == "strong"
    assert after.properties["hs_lastmodifieddate"] > before.properties["hs_lastmodifieddate"]
    assert after.updated_at > before.updated_at
    untouched = client.crm.companies.basic_api.get_by_id(
        bad_option, properties=["kam_strategic_fit"]
    )
    assert untouched.properties["kam_strategic_fit"] != "enormous"
    assert server.stats.snapshot()["records_written_by_kind"] == {"write": 1}


def test_merging_two_companies_keeps_the_primary_and_the_merged_one_is_gone_not_archived(
    client: HubSpot, sandbox: tuple[HubSpotApp, SandboxServer]
) -> None:
    app, _ = sandbox
    primary, merged = app.store.company_id(30), app.store.company_id(31)
    survivor = client.crm.companies.basic_api.merge(
        public_merge_input={"primaryObjectId": primary, "objectIdToMerge": merged}
    )
    assert survivor.id == primary
    assert survivor.properties["hs_merged_object_ids"] == merged
    for archived in (False, True):
        with pytest.raises(CompanyApiException) as caught:
            client.crm.companies.basic_api.get_by_id(merged, archived=archived)
        assert caught.value.status == 404
    with pytest.raises(CompanyApiException) as caught:
        client.crm.companies.basic_api.merge(
            public_merge_input={"primaryObjectId": primary, "objectIdToMerge": merged}
        )
    assert caught.value.status == 404


def test_search_shows_a_write_only_after_the_index_lag(
    client: HubSpot, sandbox: tuple[HubSpotApp, SandboxServer]
) -> None:
    app, _ = sandbox
    record_id = app.store.company_id(6)
    app.store.set_values("companies", record_id, {"kam_strategic_fit": "low"})
    query = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": record_id}]}
        ]
    }
    assert client.crm.companies.search_api.do_search(public_object_search_request=query).total == 0
    # Read by id, the write is there at once; search finds it once the index has caught up.
    assert client.crm.companies.basic_api.get_by_id(record_id).id == record_id
    time.sleep(app.store.search_lag_seconds + 0.05)
    assert client.crm.companies.search_api.do_search(public_object_search_request=query).total == 1


def test_batch_update_without_failures_answers_200_with_every_record(
    client: HubSpot, sandbox: tuple[HubSpotApp, SandboxServer]
) -> None:
    app, _ = sandbox
    ids = [app.store.company_id(k) for k in range(1, 11)]
    response = client.crm.companies.batch_api.update(
        batch_input_simple_public_object_batch_input={
            "inputs": [{"id": i, "properties": {"kam_contacts_engaged": 7}} for i in ids]
        }
    )
    assert isinstance(response, BatchResponseSimplePublicObject)
    assert sorted(r.id for r in response.results) == ids
    assert all(r.properties["kam_contacts_engaged"] == "7" for r in response.results)


def test_batch_update_over_100_inputs_is_refused_whole(
    client: HubSpot, sandbox: tuple[HubSpotApp, SandboxServer]
) -> None:
    app, _ = sandbox
    inputs = [{"id": app.store.deal_id(k), "properties": {"amount": "1"}} for k in range(1, 102)]
    with pytest.raises(DealApiException) as caught:
        client.crm.deals.batch_api.update(
            batch_input_simple_public_object_batch_input={"inputs": inputs}
        )
    assert caught.value.status == 400
    amount = client.crm.deals.basic_api.get_by_id(app.store.deal_id(1), properties=["amount"])
    assert amount.properties["amount"] != "1"


def test_batch_read_returns_found_records_and_a_207_error_for_missing_ids(
    client: HubSpot, sandbox: tuple[HubSpotApp, SandboxServer]
) -> None:
    app, _ = sandbox
    wanted = [app.store.deal_id(1), app.store.deal_id(2), "424242"]
    response = client.crm.deals.batch_api.read(
        batch_read_input_simple_public_object_id={
            "properties": ["dealname", "amount", "dealstage"],
            "inputs": [{"id": i} for i in wanted],
        }
    )
    assert sorted(r.id for r in response.results) == wanted[:2]
    assert response.num_errors == 1
    assert response.errors[0].category == "OBJECT_NOT_FOUND"
    assert response.errors[0].context["ids"] == ["424242"]


def test_writing_a_deal_stage_recomputes_closed_flags_and_bumps_lastmodified(
    client: HubSpot, sandbox: tuple[HubSpotApp, SandboxServer]
) -> None:
    app, _ = sandbox
    deal = app.store.deal_id(1)
    client.crm.deals.basic_api.update(
        deal, simple_public_object_input={"properties": {"dealstage": "closedwon"}}
    )
    read = client.crm.deals.basic_api.get_by_id(
        deal,
        properties=["dealstage", "hs_is_closed", "hs_is_closed_won", "hs_deal_stage_probability"],
    )
    assert {k: read.properties[k] for k in read.properties if k.startswith(("deal", "hs_"))} == {
        "dealstage": "closedwon",
        "hs_is_closed": "true",
        "hs_is_closed_won": "true",
        "hs_deal_stage_probability": "1",
        "hs_lastmodifieddate": read.properties["hs_lastmodifieddate"],
        "hs_object_id": deal,
    }
    assert read.updated_at > datetime(2026, 11, 1, tzinfo=UTC)
    assert read.properties["hs_lastmodifieddate"] > "2026-11-01"


def test_search_pages_through_matches_in_sort_order(client: HubSpot, portfolio: Portfolio) -> None:
    request = {
        "filterGroups": [
            {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]},
            {"filters": [{"propertyName": "amount", "operator": "GTE", "value": "500000"}]},
        ],
        "sorts": [{"propertyName": "amount", "direction": "DESCENDING"}],
        "properties": ["amount", "dealstage"],
        "limit": 20,
    }
    amounts: list[str | None] = []
    after = None
    total = None
    while True:
        page = client.crm.deals.search_api.do_search(
            public_object_search_request={**request, **({"after": after} if after else {})}
        )
        total = page.total
        amounts.extend(r.properties["amount"] for r in page.results)
        if page.paging is None:
            break
        after = page.paging.next.after
    expected = [
        d
        for d in portfolio.deals
        if d.stage == "closed_won" or (d.amount is not None and d.amount >= 500000)
    ]
    assert total == len(expected) == len(amounts)
    numbers = [float(a) for a in amounts if a is not None]
    assert numbers == sorted(numbers, reverse=True)
    # Deals without an amount come last.
    assert all(a is None for a in amounts[len(numbers) :])


def test_search_by_lastmodified_finds_a_record_edited_in_the_ui(
    client: HubSpot, sandbox: tuple[HubSpotApp, SandboxServer]
) -> None:
    app, _ = sandbox
    watermark = int(datetime.now(UTC).timestamp() * 1000) - 1
    app.store.set_values("companies", app.store.company_id(5), {"kam_strategic_fit": "high"})
    time.sleep(app.store.search_lag_seconds + 0.05)  # search shows a write a few moments later
    found = client.crm.companies.search_api.do_search(
        public_object_search_request={
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "hs_lastmodifieddate",
                            "operator": "GTE",
                            "value": str(watermark),
                        }
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["kam_strategic_fit"],
        }
    )
    assert [r.id for r in found.results] == [app.store.company_id(5)]
    assert found.results[0].properties["kam_strategic_fit"] == "high"


@pytest.mark.parametrize(
    ("request_body", "reason"),
    [
        ({"limit": 201}, "limit"),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}]}
                ]
                * 6
            },
            "filter groups",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}] * 7}
                ]
            },
            "filters in a filter group",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}] * 6}
                ]
                * 4
            },
            "Too many filters: 24",
        ),
        ({"sorts": [{"propertyName": "name"}, {"propertyName": "domain"}]}, "sorts"),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}
                ]
            },
            "unknown property",
        ),
    ],
)
def test_search_refuses_requests_past_the_documented_limits(
    client: HubSpot, request_body: dict[str, object], reason: str
) -> None:
    with pytest.raises(CompanyApiException) as caught:
        client.crm.companies.search_api.do_search(public_object_search_request=request_body)
    assert caught.value.status == 400
    body = error_body(caught.value)
    assert body["category"] == "VALIDATION_ERROR"
    assert reason in str(body["message"])


def test_bad_token_gets_401_in_hubspots_format(
    sandbox: tuple[HubSpotApp, SandboxServer],
) -> None:
    _, server = sandbox
    client = HubSpot(access_token="pat-na1-wrong", host=server.base_url)
    with pytest.raises(CompanyApiException) as caught:
        client.crm.companies.basic_api.get_page(limit=1)
    assert caught.value.status == 401
    assert error_body(caught.value)["category"] == "INVALID_AUTHENTICATION"


def test_oauth_refresh_grant_issues_a_token_that_works_until_sessions_expire(
    sandbox: tuple[HubSpotApp, SandboxServer],
) -> None:
    app, server = sandbox
    creds = app.credentials()
    issued = HubSpot(host=server.base_url).oauth.tokens_api.create(
        grant_type="refresh_token",
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        refresh_token=creds["refresh_token"],
    )
    assert issued.token_type == "bearer" and issued.expires_in == 1800
    client = HubSpot(access_token=issued.access_token, host=server.base_url)
    assert client.crm.companies.basic_api.get_page(limit=1).results
    app.expire_sessions()
    with pytest.raises(CompanyApiException) as caught:
        client.crm.companies.basic_api.get_page(limit=1)
    assert caught.value.status == 401
    assert error_body(caught.value)["category"] == "EXPIRED_AUTHENTICATION"


def test_owners_list_the_portfolio_users(client: HubSpot, portfolio: Portfolio) -> None:
    owners = client.crm.owners.owners_api.get_page(limit=500)
    assert [o.email for o in owners.results] == [u.email for u in portfolio.users]


def test_a_body_that_is_not_json_gets_a_hubspot_validation_error(
    sandbox: tuple[HubSpotApp, SandboxServer],
) -> None:
    app, server = sandbox
    response = requests.post(
        f"{server.base_url}/crm/v3/objects/companies/search",
        data=b"{not json",
        headers={"Authorization": f"Bearer {app.access_token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert response.json()["status"] == "error"
