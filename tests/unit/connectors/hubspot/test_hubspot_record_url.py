"""Chat alerts link to records: HubSpot's record page needs the portal id, which costs no call
when it is configured (without it, the account details give it: see
tests/integration/connectors/hubspot/test_hubspot_account_info.py)."""

from __future__ import annotations

from kam_sync_connectors.hubspot import connect
from kam_sync_connectors.hubspot.settings import HubSpotSettings

TOKEN = {"KAM_SYNC_HUBSPOT_TOKEN": "pat-x"}


def test_a_company_links_to_its_record_page_in_the_portal() -> None:
    connector = connect(HubSpotSettings(portal_id=123456), TOKEN)
    assert (
        connector.record_url("companies", "987")
        == "https://app.hubspot.com/contacts/123456/record/0-2/987"
    )
    assert connector.quota().calls_by_kind == {}
    connector.close()


def test_an_eu_portal_links_to_the_eu_app() -> None:
    settings = HubSpotSettings(portal_id=42, app_url="https://app-eu1.hubspot.com")
    connector = connect(settings, TOKEN)
    assert (
        connector.record_url("deals", "7") == "https://app-eu1.hubspot.com/contacts/42/record/0-3/7"
    )
    connector.close()
