"""The account details (GET /account-info/v3/details) name the portal's company currency and
give record links their portal id; read once per connector, and never needed for a run to go on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hubspot_sandbox_support import private_app, pull_request

from kam_sync.sandbox.hubspot.app import HUB_ID
from kam_sync.sandbox.hubspot.seed_values import PortalCurrencies, use_currencies
from kam_sync.sandbox.runner import SandboxHandle, running_sandbox
from kam_sync_connectors.hubspot.account_info import AccountDetails
from kam_sync_connectors.hubspot.connector import HubSpotConnector


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox("hubspot", accounts=8, seed=4) as handle:
        yield handle


@pytest.fixture
def connector(sandbox: SandboxHandle) -> Iterator[HubSpotConnector]:
    connector = private_app(sandbox)
    yield connector
    connector.close()


def _account_info_calls(connector: HubSpotConnector) -> int:
    return connector.quota().calls_by_kind.get("account_info", 0)


def test_without_a_portal_id_a_record_links_to_the_portal_the_account_details_name(
    sandbox: SandboxHandle, connector: HubSpotConnector
) -> None:
    sandbox.app.ui_domain = "app-eu1.hubspot.com"
    assert (
        connector.record_url("companies", "987")
        == f"https://app-eu1.hubspot.com/contacts/{HUB_ID}/record/0-2/987"
    )
    assert connector.record_url("deals", "5") == (
        f"https://app-eu1.hubspot.com/contacts/{HUB_ID}/record/0-3/5"
    )
    assert _account_info_calls(connector) == 1
    assert sandbox.server.stats.requests("account_info") == 1


def test_a_configured_app_url_is_kept_with_the_portal_id_of_the_account_details(
    sandbox: SandboxHandle,
) -> None:
    sandbox.app.ui_domain = "app-eu1.hubspot.com"
    connector = private_app(sandbox, app_url="https://hubspot.example.test")
    try:
        assert connector.record_url("companies", "1") == (
            f"https://hubspot.example.test/contacts/{HUB_ID}/record/0-2/1"
        )
    finally:
        connector.close()


def test_a_configured_portal_id_costs_no_account_details_call(sandbox: SandboxHandle) -> None:
    connector = private_app(sandbox, portal_id=4242)
    try:
        assert connector.record_url("companies", "1") == (
            "https://app.hubspot.com/contacts/4242/record/0-2/1"
        )
        assert _account_info_calls(connector) == 0
    finally:
        connector.close()


def test_home_currency_amounts_are_named_by_the_company_currency_read_once(
    sandbox: SandboxHandle, connector: HubSpotConnector
) -> None:
    use_currencies(sandbox.app.store, PortalCurrencies("EUR", {}))
    assert connector.amounts_currency() is None, "nothing pulled yet"
    for _ in connector.pull(pull_request("deals", ("dealname", "amount_in_home_currency"))):
        pass
    assert connector.amounts_currency() == "EUR"
    assert connector.amounts_currency() == "EUR"
    assert connector.record_url("companies", "1") is not None
    assert _account_info_calls(connector) == 1


def test_amounts_in_each_deals_own_currency_are_not_named_and_cost_no_call(
    sandbox: SandboxHandle, connector: HubSpotConnector
) -> None:
    use_currencies(sandbox.app.store, PortalCurrencies("EUR", {}))
    for _ in connector.pull(pull_request("deals", ("dealname", "amount"))):
        pass
    assert connector.amounts_currency() is None
    assert _account_info_calls(connector) == 0


def test_a_refused_account_details_call_is_logged_once_and_changes_nothing_else(
    sandbox: SandboxHandle, connector: HubSpotConnector, caplog: pytest.LogCaptureFixture
) -> None:
    # An app without the `oauth` scope: HubSpot answers 403 MISSING_SCOPES.
    sandbox.app.scopes = tuple(s for s in sandbox.app.scopes if s != "oauth")
    for _ in connector.pull(pull_request("deals", ("dealname", "amount_in_home_currency"))):
        pass
    with caplog.at_level(logging.WARNING, logger="kam_sync_connectors.hubspot.account_info"):
        assert connector.amounts_currency() is None
        assert connector.record_url("companies", "1") is None
        assert connector.record_url("companies", "2") is None
    warnings = [r for r in caplog.records if "account details" in r.getMessage()]
    assert len(warnings) == 1
    assert "HTTP 403" in warnings[0].getMessage()
    assert _account_info_calls(connector) == 1
    # The connector goes on as before: the next call is answered.
    assert connector.describe("companies").fields


def test_account_details_with_malformed_values_are_used_only_where_sound() -> None:
    details = AccountDetails.from_body(
        {"portalId": True, "companyCurrency": "euro", "uiDomain": "evil.test/x?"}
    )
    assert details == AccountDetails(None, None, None)
    sound = AccountDetails.from_body(
        {"portalId": 12345678, "companyCurrency": "USD", "uiDomain": "app-eu1.hubspot.com"}
    )
    assert sound == AccountDetails(12345678, "USD", "app-eu1.hubspot.com")
