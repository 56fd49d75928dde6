"""Plain http is refused for any host but the local machine, when settings load and at connect."""

from __future__ import annotations

import pytest
from pydantic import HttpUrl, ValidationError

from kam_sync.errors import ConfigError
from kam_sync_connectors.hubspot.connector import HubSpotConnector
from kam_sync_connectors.hubspot.settings import HubSpotSettings
from kam_sync_connectors.salesforce.connector import connect as connect_salesforce
from kam_sync_connectors.salesforce.settings import SalesforceSettings
from kam_sync_connectors.transport_security import is_loopback

SF_ENV = {"KAM_SYNC_SF_CLIENT_ID": "id", "KAM_SYNC_SF_CLIENT_SECRET": "shh"}
HS_ENV = {"KAM_SYNC_HUBSPOT_TOKEN": "pat-secret"}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("[::1]", True),
        ("localhost", True),
        ("sandbox.localhost", True),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        (None, False),
    ],
)
def test_only_the_local_machine_counts_as_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("key", "url"),
    [("login_url", "http://login.salesforce.com"), ("instance_url", "http://10.1.2.3:8080")],
)
def test_salesforce_settings_refuse_plain_http_to_another_host(key: str, url: str) -> None:
    with pytest.raises(ValidationError, match=r"plain http:// to .* is refused"):
        SalesforceSettings.model_validate({key: url})


def test_hubspot_settings_refuse_plain_http_to_another_host() -> None:
    with pytest.raises(ValidationError, match=r"plain http:// to api.hubapi.com is refused"):
        HubSpotSettings.model_validate({"base_url": "http://api.hubapi.com"})


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:9000", "https://x.io"])
def test_plain_http_to_the_local_sandbox_and_https_anywhere_are_accepted(url: str) -> None:
    assert str(HubSpotSettings(base_url=HttpUrl(url)).base_url).startswith(url)
    assert str(SalesforceSettings(login_url=HttpUrl(url)).login_url).startswith(url)


def test_salesforce_refuses_a_plain_http_login_url_at_connect_before_any_request() -> None:
    # model_construct skips validation, as settings built in code may.
    settings = SalesforceSettings.model_construct(
        login_url=HttpUrl("http://login.example.com"), auth="client_credentials"
    )
    with pytest.raises(ConfigError, match=r"crm.salesforce.login_url: plain http://") as caught:
        connect_salesforce(settings, SF_ENV)
    assert "shh" not in str(caught.value)


def test_hubspot_refuses_a_plain_http_base_url_at_connect_before_any_request() -> None:
    settings = HubSpotSettings.model_construct(base_url=HttpUrl("http://api.example.com"))
    with pytest.raises(ConfigError, match=r"crm.hubspot.base_url: plain http://") as caught:
        HubSpotConnector(settings, HS_ENV)
    assert "pat-secret" not in str(caught.value)


def test_a_missing_ca_bundle_file_is_a_config_error_naming_the_setting() -> None:
    settings = HubSpotSettings(ca_bundle="/nonexistent/ca.pem")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"crm.hubspot.ca_bundle: no such file"):
        HubSpotConnector(settings, HS_ENV)
