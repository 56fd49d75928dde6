"""hubspot-api-client against the sandbox: properties, v4 associations, the 10,000 search cap,
rate limits and record-level faults."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hubspot import HubSpot
from hubspot.crm.companies import ApiException as CompanyApiException
from hubspot.crm.deals import ApiException as DealApiException
from hubspot.crm.properties import ApiException as PropertyApiException
from urllib3.util.retry import Retry

from kam_sync.sandbox.faults import FaultInjector, FaultSpec
from kam_sync.sandbox.hubspot.app import HubSpotApp
from kam_sync.sandbox.portfolio import Portfolio, generate_portfolio
from kam_sync.sandbox.server import SandboxServer

Started = tuple[HubSpotApp, SandboxServer, HubSpot]


@contextmanager
def running(portfolio: Portfolio, faults: str | None = None, **options: int) -> Iterator[Started]:
    settings: dict[str, int] = {"rate_limit_tier": 250, "search_per_second": 1000}
    settings.update(options)
    injector = FaultInjector(FaultSpec.parse(faults), seed=3)
    app = HubSpotApp(portfolio, faults=injector, **settings)
    server = SandboxServer(app, faults=injector)
    app.bind(stats=server.stats, faults=injector)
    server.start()
    try:
        yield app, server, HubSpot(access_token=app.access_token, host=server.base_url)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def small() -> Portfolio:
    return generate_portfolio(40, seed=5)


@pytest.fixture
def started(small: Portfolio) -> Iterator[Started]:
    with running(small) as triple:
        yield triple


def body_of(exc: Exception) -> dict[str, object]:
    body = json.loads(exc.body)  # type: ignore[attr-defined]
    assert isinstance(body, dict)
    return body


KAM_TIER = {
    "name": "kam_tier",
    "label": "KAM tier",
    "type": "enumeration",
    "fieldType": "select",
    "groupName": "kam",
    "options": [
        {"label": "Strategic", "value": "strategic"},
        {"label": "Key", "value": "key"},
        {"label": "None", "value": "none"},
    ],
}


def test_provisioning_creates_a_group_and_an_enumeration_property_that_writes_then_accept(
    started: Started,
) -> None:
    app, _, client = started
    properties = client.crm.properties
    group = properties.groups_api.create(
        "companies", property_group_create={"name": "kam", "label": "KAM"}
    )
    assert (group.name, group.label, group.archived) == ("kam", "KAM", False)
    created = properties.core_api.create("companies", property_create=KAM_TIER)
    assert created.name == "kam_tier" and created.group_name == "kam"
    assert [o.value for o in created.options] == ["strategic", "key", "none"]
    assert created.hubspot_defined is False
    assert created.modification_metadata.read_only_value is False
    listed = {p.name for p in properties.core_api.get_all("companies").results}
    assert {"kam_tier", "kam_tier_override", "name", "hs_lastmodifieddate"} <= listed
    company = app.store.company_id(1)
    client.crm.companies.basic_api.update(
        company, simple_public_object_input={"properties": {"kam_tier": "key"}}
    )
    read = client.crm.companies.basic_api.get_by_id(company, properties=["kam_tier"])
    assert read.properties["kam_tier"] == "key"
    with pytest.raises(CompanyApiException) as caught:
        client.crm.companies.basic_api.update(
            company, simple_public_object_input={"properties": {"kam_tier": "gold"}}
        )
    assert caught.value.status == 400
    assert "INVALID_OPTION" in str(body_of(caught.value)["message"])


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"fieldType": "text"}, 400, "fieldType 'text' is not valid for type 'enumeration'"),
        ({"options": []}, 400, "needs at least one option"),
        ({"groupName": "no_such_group"}, 400, "does not exist"),
        ({"name": "Bad Name"}, 400, "lowercase"),
        ({"type": "money"}, 400, "Invalid property type"),
        ({"name": "kam_tier_override", "groupName": "kam_inputs"}, 409, "already exists"),
    ],
)
def test_property_create_checks_type_options_group_and_name(
    started: Started, change: dict[str, object], status: int, reason: str
) -> None:
    _, _, client = started
    client.crm.properties.groups_api.create(
        "companies", property_group_create={"name": "kam", "label": "KAM"}
    )
    with pytest.raises(PropertyApiException) as caught:
        client.crm.properties.core_api.create("companies", property_create={**KAM_TIER, **change})
    assert caught.value.status == status
    assert reason in str(body_of(caught.value)["message"])


def test_v4_batch_read_gives_each_deal_its_primary_company(
    started: Started, small: Portfolio
) -> None:
    app, _, client = started
    live = [d for d in small.deals if d.company_key is not None and d.company_key <= 40][:5]
    orphan = next(d for d in small.deals if d.company_key is None or d.company_key > 40)
    response = client.crm.associations.v4.batch_api.get_page(
        "deals",
        "companies",
        batch_input_public_fetch_associations_batch_request={
            "inputs": [{"id": app.store.deal_id(d.key)} for d in [*live, orphan]]
        },
    )
    by_deal = {r._from.id: r.to for r in response.results}
    for deal in live:
        (target,) = by_deal[app.store.deal_id(deal.key)]
        assert target.to_object_id == app.store.company_id(deal.company_key or 0)
        assert {(t.category, t.type_id, t.label) for t in target.association_types} == {
            ("HUBSPOT_DEFINED", 5, "Primary"),
            ("HUBSPOT_DEFINED", 341, None),
        }
    assert response.num_errors == 1
    assert response.errors[0].context["fromObjectId"] == [app.store.deal_id(orphan.key)]


def test_v4_batch_read_gives_subsidiaries_their_parent_company(started: Started) -> None:
    app, _, client = started
    parent = app.store.company_id(1)
    child = app.store.company_id(2)
    app.store.set_parent(child, parent)
    response = client.crm.associations.v4.batch_api.get_page(
        "companies",
        "companies",
        batch_input_public_fetch_associations_batch_request={
            "inputs": [{"id": child}, {"id": parent}]
        },
    )
    by_company = {r._from.id: r.to for r in response.results}
    assert [(t.to_object_id, t.association_types[0].type_id) for t in by_company[child]] == [
        (parent, 14)
    ]
    assert (child, 13) in [
        (t.to_object_id, t.association_types[0].type_id) for t in by_company[parent]
    ]


def test_search_pages_up_to_10000_results_and_refuses_to_go_past_them() -> None:
    # ~10,500 deals: enough to cross the cap while seeding in well under a second.
    with running(generate_portfolio(2100, seed=2)) as (_, server, client):
        seen: set[str] = set()
        after = None
        total = 0
        while True:
            request: dict[str, object] = {"limit": 200, "properties": ["dealname"]}
            if after is not None:
                request["after"] = after
            try:
                page = client.crm.deals.search_api.do_search(public_object_search_request=request)
            except DealApiException as exc:
                refused = exc
                break
            total = page.total
            seen.update(r.id for r in page.results)
            after = page.paging.next.after
        assert total > 10_000
        assert len(seen) == 10_000
        assert after == "10000"
        assert refused.status == 400
        assert body_of(refused)["category"] == "VALIDATION_ERROR"
        assert server.stats.requests("search") == 51


def _burst(call: Callable[[], object], times: int) -> list[int]:
    statuses = []
    for _ in range(times):
        try:
            call()
            statuses.append(200)
        except CompanyApiException as exc:
            statuses.append(exc.status)
    return statuses


def test_ten_second_window_refuses_the_101st_request_with_hubspots_429(small: Portfolio) -> None:
    with running(small, rate_limit_tier=100) as (_, server, client):
        api = client.crm.companies.basic_api
        _, _, headers = api.get_page_with_http_info(limit=1)
        assert headers["X-HubSpot-RateLimit-Max"] == "100"
        assert headers["X-HubSpot-RateLimit-Remaining"] == "99"
        assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) == 250_000 - 1
        statuses = _burst(lambda: api.get_page(limit=1), 100)
        assert statuses == [200] * 99 + [429]
        with pytest.raises(CompanyApiException) as caught:
            api.get_page(limit=1)
        body = body_of(caught.value)
        assert body["errorType"] == "RATE_LIMIT"
        assert body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert body["status"] == "error" and body["correlationId"]
        assert caught.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert server.stats.snapshot()["faults"]["rate_limit_ten_secondly_rolling"] == 2


def test_search_has_its_own_five_per_second_limit(small: Portfolio) -> None:
    with running(small, search_per_second=5) as (_, _, client):
        search = client.crm.companies.search_api.do_search
        statuses = _burst(lambda: search(public_object_search_request={"limit": 1}), 6)
        assert statuses == [200] * 5 + [429]
        # Other endpoints are not held back by search's limit.
        assert client.crm.companies.basic_api.get_page(limit=1).results


def test_used_up_daily_quota_answers_429_with_policy_daily(small: Portfolio) -> None:
    with running(small, faults="quota=2") as (_, _, client):
        api = client.crm.companies.basic_api
        assert _burst(lambda: api.get_page(limit=1), 3) == [200, 200, 429]
        with pytest.raises(CompanyApiException) as caught:
            api.get_page(limit=1)
        assert body_of(caught.value)["policyName"] == "DAILY"


def test_injected_lock_faults_fail_single_records_in_the_207(small: Portfolio) -> None:
    with running(small, faults="write:lock=0.5") as (app, server, client):
        ids = [app.store.company_id(k) for k in range(1, 21)]
        response = client.crm.companies.batch_api.update(
            batch_input_simple_public_object_batch_input={
                "inputs": [
                    {"id": i, "properties": {"kam_strategic_fit": "low"}, "objectWriteTraceId": i}
                    for i in ids
                ]
            }
        )
        failed = {e.context["objectWriteTraceId"][0] for e in response.errors}
        written = {r.id for r in response.results}
        assert failed and written
        assert failed | written == set(ids) and not failed & written
        assert {e.category for e in response.errors} == {"CONFLICT"}
        assert server.stats.snapshot()["faults"]["lock"] == len(failed)


def test_injected_429_carries_hubspots_body_and_retry_after(small: Portfolio) -> None:
    with running(small, faults="query:429=1,retry_after=2") as (app, server, _):
        # urllib3 would honour Retry-After and retry; this test wants the first answer.
        client = HubSpot(
            access_token=app.access_token,
            host=server.base_url,
            retry=Retry(total=0, raise_on_status=False),
        )
        with pytest.raises(CompanyApiException) as caught:
            client.crm.companies.basic_api.get_page(limit=1)
        assert caught.value.status == 429
        assert caught.value.headers["Retry-After"] == "2"
        assert body_of(caught.value)["errorType"] == "RATE_LIMIT"


def test_whole_batch_mode_refuses_a_batch_with_one_bad_option_and_writes_nothing(
    small: Portfolio,
) -> None:
    with running(small) as (app, _, client):
        app.invalid_values = "whole_batch"
        good, bad = app.store.company_id(1), app.store.company_id(2)
        with pytest.raises(CompanyApiException) as caught:
            client.crm.companies.batch_api.update(
                batch_input_simple_public_object_batch_input={
                    "inputs": [
                        {"id": good, "properties": {"kam_strategic_fit": "high"}},
                        {"id": bad, "properties": {"kam_strategic_fit": "enormous"}},
                    ]
                }
            )
        assert caught.value.status == 400
        assert str(body_of(caught.value)["message"]).startswith("Property values were not valid")
        read = client.crm.companies.basic_api.get_by_id(good, properties=["hs_lastmodifieddate"])
        assert read.properties["hs_lastmodifieddate"] < "2026-11-02"


def test_injected_lock_fault_on_a_single_update_answers_409_conflict(small: Portfolio) -> None:
    with running(small, faults="write:lock=1") as (app, _, client):
        with pytest.raises(CompanyApiException) as caught:
            client.crm.companies.basic_api.update(
                app.store.company_id(1),
                simple_public_object_input={"properties": {"kam_strategic_fit": "low"}},
            )
        assert caught.value.status == 409
        assert body_of(caught.value)["category"] == "CONFLICT"
