"""Transport security against the sandbox's TLS: whom each connector trusts, and what it says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kam_sync.errors import FatalApiError
from kam_sync.sandbox.runner import SandboxHandle, running_sandbox
from kam_sync.sandbox.tls import generate_tls_material
from kam_sync_connectors.hubspot.connector import HubSpotConnector
from kam_sync_connectors.hubspot.settings import HubSpotSettings
from kam_sync_connectors.salesforce.connector import connect as connect_salesforce
from kam_sync_connectors.salesforce.settings import SalesforceSettings


@pytest.fixture(scope="module")
def hubspot_tls() -> Iterator[SandboxHandle]:
    with running_sandbox("hubspot", accounts=5, tls=True) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def salesforce() -> Iterator[SandboxHandle]:
    with running_sandbox("salesforce", accounts=5) as sandbox:
        yield sandbox


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA that did not sign the sandbox's certificate."""
    return generate_tls_material(tmp_path / "other").ca_cert_path


@pytest.fixture(autouse=True)
def no_ca_bundle_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def hubspot(sandbox: SandboxHandle, env: dict[str, str] | None = None, **settings: Any) -> Any:
    environ = {"KAM_SYNC_HUBSPOT_TOKEN": sandbox.credentials["access_token"], **(env or {})}
    return HubSpotConnector(
        HubSpotSettings(base_url=sandbox.base_url, retry_max_attempts=3, **settings), environ
    )


def salesforce_connector(sandbox: SandboxHandle, **settings: Any) -> Any:
    creds = sandbox.credentials
    environ = {
        "KAM_SYNC_SF_CLIENT_ID": creds["client_id"],
        "KAM_SYNC_SF_CLIENT_SECRET": creds["client_secret"],
    }
    return connect_salesforce(
        SalesforceSettings(
            login_url=sandbox.base_url, auth="client_credentials", retry_max_attempts=3, **settings
        ),
        environ,
        sleep=lambda _seconds: None,
    )


def test_hubspot_without_the_sandbox_ca_is_refused_in_words_naming_host_and_setting(
    hubspot_tls: SandboxHandle,
) -> None:
    hubspot_tls.reset_stats()
    with pytest.raises(FatalApiError) as caught:
        hubspot(hubspot_tls).check_quota()

    message = str(caught.value)
    assert "TLS connection to 127.0.0.1 failed" in message
    assert "certificate is not trusted" in message
    assert "crm.hubspot.ca_bundle" in message
    assert "MaxRetryError" not in message
    assert caught.value.error_code == "KAM_TLS_FAILED"
    assert hubspot_tls.stats()["requests_total"] == 0  # refused at the handshake, not retried


def test_hubspot_with_ca_bundle_connects(hubspot_tls: SandboxHandle) -> None:
    status = hubspot(hubspot_tls, ca_bundle=hubspot_tls.ca_cert_path).check_quota()
    assert status.calls_by_kind == {"quota": 1}


def test_hubspot_honours_requests_ca_bundle_from_the_environment(
    hubspot_tls: SandboxHandle,
) -> None:
    env = {"REQUESTS_CA_BUNDLE": str(hubspot_tls.ca_cert_path)}
    assert hubspot(hubspot_tls, env).check_quota().calls_by_kind == {"quota": 1}


def test_hubspots_ca_bundle_setting_wins_over_the_environment(
    hubspot_tls: SandboxHandle, other_ca: Path
) -> None:
    right = {"REQUESTS_CA_BUNDLE": str(hubspot_tls.ca_cert_path)}
    with pytest.raises(FatalApiError, match=r"crm\.hubspot\.ca_bundle"):
        hubspot(hubspot_tls, right, ca_bundle=other_ca).check_quota()

    wrong = {"REQUESTS_CA_BUNDLE": str(other_ca)}
    hubspot(hubspot_tls, wrong, ca_bundle=hubspot_tls.ca_cert_path).check_quota()


def test_salesforce_without_the_sandbox_ca_is_refused_in_words_naming_host_and_setting(
    salesforce: SandboxHandle,
) -> None:
    connector = salesforce_connector(salesforce)
    with pytest.raises(FatalApiError) as caught:
        connector.check_quota()

    message = str(caught.value)
    assert "TLS connection to 127.0.0.1 failed" in message
    assert "certificate is not trusted" in message
    assert "crm.salesforce.ca_bundle" in message
    assert connector.client.waits == []  # a certificate does not fix itself: no retry


def test_salesforce_with_ca_bundle_connects(salesforce: SandboxHandle) -> None:
    connector = salesforce_connector(salesforce, ca_bundle=salesforce.ca_cert_path)
    assert connector.check_quota().limit is not None


def test_salesforces_ca_bundle_setting_wins_over_the_environment(
    salesforce: SandboxHandle, other_ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_ca))
    connector = salesforce_connector(salesforce, ca_bundle=salesforce.ca_cert_path)
    assert connector.check_quota().limit is not None
