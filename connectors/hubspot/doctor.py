"""`kam-sync doctor` for HubSpot: connection and TLS, the token, its scopes, the daily budget.

The token's scopes come from HubSpot's token-info endpoints: a private app's with
``POST /oauth/v2/private-apps/get/access-token-info`` and ``{"tokenKey": token}``
(developers.hubspot.com, "Private apps"), an OAuth access token's with
``GET /oauth/v1/access-tokens/{token}`` ("OAuth tokens: get access token metadata"). Both answer
``scopes``. Reads only.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import requests

from kam_sync.errors import AuthError, KamSyncError
from kam_sync_connectors.base import DoctorCheck
from kam_sync_connectors.doctor import budget_check

if TYPE_CHECKING:
    from kam_sync_connectors.hubspot.connector import HubSpotConnector

# Scope -> why kam-sync needs it (HubSpot's scope names, developers.hubspot.com "Scopes").
REQUIRED_SCOPES = {
    "crm.objects.companies.read": "pull companies",
    "crm.objects.companies.write": "write the KAM results onto companies",
    "crm.objects.deals.read": "pull deals",
    "crm.schemas.companies.read": "read company properties (validate, doctor)",
    "crm.schemas.deals.read": "read deal properties (validate, doctor)",
}
# Needed only by `kam-sync provision` (an admin's app may hold it instead).
PROVISION_SCOPES = {"crm.schemas.companies.write": "create the KAM properties (provision)"}
TIMEOUT_SECONDS = 30
AUTH_FIXES = {
    "private_app": "copy the private app's access token (Settings > Integrations > Private "
    "apps > the app > Auth) into KAM_SYNC_HUBSPOT_TOKEN",
    "oauth": "install the OAuth app again and set KAM_SYNC_HUBSPOT_CLIENT_ID, "
    "KAM_SYNC_HUBSPOT_CLIENT_SECRET and the new KAM_SYNC_HUBSPOT_REFRESH_TOKEN",
}


def diagnose(connector: HubSpotConnector) -> list[DoctorCheck]:
    """The checks, in the order a person fixes them; later ones are skipped after a failure
    that makes them meaningless."""
    settings = connector.settings
    base = str(settings.base_url).rstrip("/")
    checks: list[DoctorCheck] = []
    try:
        token = connector.tokens.access_token()
    except AuthError as exc:
        checks.append(
            DoctorCheck("auth", False, f"{settings.auth}: {exc}", AUTH_FIXES[settings.auth])
        )
        return checks
    except KamSyncError as exc:
        checks.append(
            DoctorCheck(
                "connection",
                False,
                f"{base}: {exc}",
                "check crm.hubspot.base_url, the network, HTTPS_PROXY and crm.hubspot.ca_bundle",
            )
        )
        return checks
    info, failure = _token_info(connector, base, token)
    if failure is not None:
        checks.append(failure)
        return checks
    over = (
        "over TLS, certificate trusted" if base.startswith("https:") else "(plain http, loopback)"
    )
    checks.append(DoctorCheck("connection", True, f"{base} answers {over}"))
    checks.append(DoctorCheck("auth", True, f"{settings.auth} token accepted"))
    scopes = set(info.get("scopes") or ())
    missing = {s: why for s, why in REQUIRED_SCOPES.items() if s not in scopes}
    checks.append(
        DoctorCheck(
            "scopes",
            not missing,
            "the token has every scope a run needs"
            if not missing
            else "missing: " + "; ".join(f"{s} ({why})" for s, why in missing.items()),
            "" if not missing else "add these scopes to the app in HubSpot, then use its new token",
        )
    )
    provision_missing = [s for s in PROVISION_SCOPES if s not in scopes]
    checks.append(
        DoctorCheck(
            "provisioning scope",
            True,
            "the token can create properties (kam-sync provision)"
            if not provision_missing
            else "the token cannot create properties: run `kam-sync provision` with an app "
            "that has " + ", ".join(provision_missing),
        )
    )
    checks.append(_budget(connector))
    return checks


def _token_info(
    connector: HubSpotConnector, base: str, token: str
) -> tuple[dict[str, Any], DoctorCheck | None]:
    verify: str | bool = str(connector.ca_cert) if connector.ca_cert else True
    try:
        if connector.settings.auth == "private_app":
            response = requests.post(
                f"{base}/oauth/v2/private-apps/get/access-token-info",
                json={"tokenKey": token},
                timeout=TIMEOUT_SECONDS,
                verify=verify,
            )
        else:
            response = requests.get(
                f"{base}/oauth/v1/access-tokens/{token}", timeout=TIMEOUT_SECONDS, verify=verify
            )
    except requests.exceptions.SSLError as exc:
        reason = _ssl_reason(exc)
        return {}, DoctorCheck(
            "connection",
            False,
            f"{base}: the TLS certificate is not trusted ({reason})",
            "set crm.hubspot.ca_bundle (or KAM_SYNC_CA_BUNDLE) to the CA file of your TLS "
            "inspecting proxy, or fix the machine's CA store",
        )
    except requests.exceptions.RequestException as exc:
        return {}, DoctorCheck(
            "connection",
            False,
            f"{base} cannot be reached ({type(exc).__name__})",
            "check crm.hubspot.base_url, the network, and HTTPS_PROXY",
        )
    if response.status_code in (401, 403, 404):
        return {}, DoctorCheck(
            "auth",
            False,
            f"HubSpot refused the {connector.settings.auth} token ({response.status_code})",
            AUTH_FIXES[connector.settings.auth],
        )
    if response.status_code != 200:
        return {}, DoctorCheck(
            "connection",
            False,
            f"HubSpot answered {response.status_code} to the token check",
            "try again later; see status.hubspot.com",
        )
    try:
        body = response.json()
    except ValueError:
        body = {}
    return (body if isinstance(body, dict) else {}), None


def _ssl_reason(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause.verify_message or "certificate verify failed"
        cause = cause.__cause__ or cause.__context__
    return "certificate verify failed"


def _budget(connector: HubSpotConnector) -> DoctorCheck:
    return budget_check(
        connector.check_quota,
        exhausted_fix="wait for the daily allocation to reset, or raise crm.hubspot's quota budget",
        left=lambda s: f"{s.remaining:,} of {s.limit:,} calls left today",
    )
