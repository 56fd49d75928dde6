"""The HubSpot sandbox started through `running_sandbox`, as tests and the CLI start it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hubspot import HubSpot
from hubspot.crm.companies import ApiException

from kam_sync.sandbox.runner import running_sandbox


def test_data_file_keeps_provisioned_properties_and_writes_between_restarts(
    tmp_path: Path,
) -> None:
    data = tmp_path / "hubspot.json"
    with running_sandbox("hubspot", accounts=30, seed=4, data_file=data) as sandbox:
        client = HubSpot(access_token=sandbox.credentials["access_token"], host=sandbox.base_url)
        client.crm.properties.groups_api.create(
            "companies", property_group_create={"name": "kam", "label": "KAM"}
        )
        client.crm.properties.core_api.create(
            "companies",
            property_create={
                "name": "kam_score",
                "label": "KAM score",
                "type": "number",
                "fieldType": "number",
                "groupName": "kam",
            },
        )
        company = sandbox.app.store.company_id(7)
        client.crm.companies.basic_api.update(
            company, simple_public_object_input={"properties": {"kam_score": "81.5"}}
        )
        sandbox.app.store.archive("deals", sandbox.app.store.deal_id(1))
    assert data.exists()
    with running_sandbox("hubspot", accounts=30, seed=4, data_file=data) as sandbox:
        client = HubSpot(access_token=sandbox.credentials["access_token"], host=sandbox.base_url)
        read = client.crm.companies.basic_api.get_by_id(company, properties=["kam_score"])
        assert read.properties["kam_score"] == "81.5"
        assert (
            client.crm.properties.core_api.get_by_name("companies", "kam_score").group_name == "kam"
        )
        archived = client.crm.deals.basic_api.get_page(archived=True)
        assert [d.id for d in archived.results] == [sandbox.app.store.deal_id(1)]


def test_stats_count_requests_by_endpoint_kind_and_records_read() -> None:
    with running_sandbox("hubspot", accounts=30, seed=4) as sandbox:
        client = HubSpot(access_token=sandbox.credentials["access_token"], host=sandbox.base_url)
        client.crm.companies.basic_api.get_page(limit=7)
        client.crm.companies.search_api.do_search(public_object_search_request={"limit": 3})
        client.crm.properties.core_api.get_all("deals")
        stats = sandbox.stats()
        assert stats["requests"] == {
            "query": {"GET": 1},
            "search": {"POST": 1},
            "describe": {"GET": 1},
        }
        assert stats["records_read_by_kind"] == {"query": 7, "search": 3}
        sandbox.reset_stats()
        assert sandbox.stats()["requests_total"] == 0


def test_set_faults_quota_takes_effect_on_a_running_sandbox() -> None:
    with running_sandbox("hubspot", accounts=10, seed=4) as sandbox:
        client = HubSpot(access_token=sandbox.credentials["access_token"], host=sandbox.base_url)
        api = client.crm.companies.basic_api
        _, _, headers = api.get_page_with_http_info(limit=1)
        assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) == 625_000 - 1
        sandbox.set_faults("quota=1")
        _, _, headers = api.get_page_with_http_info(limit=1)
        assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        with pytest.raises(ApiException) as caught:
            api.get_page(limit=1)
        assert caught.value.status == 429


def test_credentials_stay_the_same_across_restarts_with_the_same_seed() -> None:
    with running_sandbox("hubspot", accounts=5, seed=8) as first:
        credentials = first.credentials
    with running_sandbox("hubspot", accounts=5, seed=8) as second:
        assert second.credentials == credentials
    with running_sandbox("hubspot", accounts=5, seed=9) as other:
        assert other.credentials["access_token"] != credentials["access_token"]
