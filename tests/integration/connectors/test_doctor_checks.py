"""The connectors' doctor checks against the sandbox: what fails, and the fix it names."""

from __future__ import annotations

import pytest

from kam_sync.sandbox.runner import running_sandbox
from kam_sync_connectors.base import DoctorCheck
from kam_sync_connectors.hubspot.connector import connect as connect_hubspot
from kam_sync_connectors.hubspot.settings import HubSpotSettings
from kam_sync_connectors.salesforce import SalesforceSettings
from kam_sync_connectors.salesforce import connect as connect_salesforce


def _by_name(checks: list[DoctorCheck]) -> dict[str, DoctorCheck]:
    return {c.name: c for c in checks}


@pytest.fixture(autouse=True)
def _no_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_an_untrusted_salesforce_certificate_fails_the_connection_with_the_ca_bundle_fix() -> None:
    with running_sandbox("salesforce", accounts=2) as sandbox:
        environ = {
            "KAM_SYNC_SF_CLIENT_ID": sandbox.credentials["client_id"],
            "KAM_SYNC_SF_CLIENT_SECRET": sandbox.credentials["client_secret"],
        }
        connector = connect_salesforce(
            SalesforceSettings(
                login_url=sandbox.base_url, auth="client_credentials", retry_max_attempts=1
            ),
            environ,
        )
        (check,) = connector.diagnose()
    assert check.name == "connection" and not check.ok
    assert "not trusted" in check.detail and "ca_bundle" in check.fix


def test_a_salesforce_user_without_view_setup_passes_with_the_budget_from_headers() -> None:
    with running_sandbox("salesforce", accounts=2) as sandbox:
        row = next(iter(sandbox.app.store.table("UserPermissionAccess").values()))
        row["PermissionsViewSetup"] = False
        sandbox.app.limits_permission = False
        environ = {
            "KAM_SYNC_SF_CLIENT_ID": sandbox.credentials["client_id"],
            "KAM_SYNC_SF_CLIENT_SECRET": sandbox.credentials["client_secret"],
        }
        connector = connect_salesforce(
            SalesforceSettings(
                login_url=sandbox.base_url,
                auth="client_credentials",
                ca_bundle=sandbox.ca_cert_path,
            ),
            environ,
        )
        checks = _by_name(connector.diagnose())
    view_setup = checks["permission View Setup and Configuration"]
    assert view_setup.ok and "response headers" in view_setup.detail
    assert checks["API budget"].ok and "Sforce-Limit-Info" in checks["API budget"].detail


def test_a_refused_hubspot_refresh_token_fails_auth_with_the_reinstall_fix() -> None:
    with running_sandbox("hubspot", accounts=2) as sandbox:
        creds = sandbox.credentials
        environ = {
            "KAM_SYNC_HUBSPOT_CLIENT_ID": creds["client_id"],
            "KAM_SYNC_HUBSPOT_CLIENT_SECRET": creds["client_secret"],
            "KAM_SYNC_HUBSPOT_REFRESH_TOKEN": "na1-not-the-token",
        }
        connector = connect_hubspot(
            HubSpotSettings(base_url=sandbox.base_url, auth="oauth", retry_max_attempts=1), environ
        )
        checks = connector.diagnose()
    assert [c.name for c in checks] == ["auth"]
    assert not checks[0].ok and "KAM_SYNC_HUBSPOT_REFRESH_TOKEN" in checks[0].fix
    assert "na1-not-the-token" not in checks[0].detail


def test_an_oauth_hubspot_token_has_its_scopes_read_from_the_token_metadata() -> None:
    with running_sandbox("hubspot", accounts=2) as sandbox:
        sandbox.app.scopes = tuple(s for s in sandbox.app.scopes if "deals" not in s)
        creds = sandbox.credentials
        environ = {
            "KAM_SYNC_HUBSPOT_CLIENT_ID": creds["client_id"],
            "KAM_SYNC_HUBSPOT_CLIENT_SECRET": creds["client_secret"],
            "KAM_SYNC_HUBSPOT_REFRESH_TOKEN": creds["refresh_token"],
        }
        connector = connect_hubspot(
            HubSpotSettings(base_url=sandbox.base_url, auth="oauth"), environ
        )
        checks = _by_name(connector.diagnose())
    assert checks["auth"].ok
    scopes = checks["scopes"]
    assert not scopes.ok and "crm.objects.deals.read" in scopes.detail
    assert "crm.schemas.deals.read" in scopes.detail


def test_an_untrusted_hubspot_certificate_fails_the_connection() -> None:
    with running_sandbox("hubspot", accounts=2, tls=True) as sandbox:
        environ = {"KAM_SYNC_HUBSPOT_TOKEN": sandbox.credentials["access_token"]}
        connector = connect_hubspot(HubSpotSettings(base_url=sandbox.base_url), environ)
        checks = connector.diagnose()
    assert [c.name for c in checks] == ["connection"]
    assert not checks[0].ok and "not trusted" in checks[0].detail
    assert "ca_bundle" in checks[0].fix
