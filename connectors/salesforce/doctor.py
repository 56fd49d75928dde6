"""`kam-sync doctor` for Salesforce: connection and TLS, the login flow against the login URL,
the integration user's system permissions, and the daily API budget. Reads only.

Permissions come from ``UserPermissionAccess``, the running user's effective system
permissions in one row (Object Reference, "UserPermissionAccess", API 37.0 and later): API
Enabled (every call), View Setup and Configuration (``/limits``; without it the budget is read
from the ``Sforce-Limit-Info`` header of each response) and Customize Application (creating
fields in `kam-sync provision`). Object and field access is the mapping check's (describe shows
only what the user may see).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kam_sync.errors import AuthError, FatalApiError, KamSyncError
from kam_sync_connectors.base import DoctorCheck
from kam_sync_connectors.doctor import budget_check
from kam_sync_connectors.salesforce.settings import MY_DOMAIN_FIX, is_generic_login_host
from kam_sync_connectors.transport_security import TLS_ERROR_CODE

if TYPE_CHECKING:
    from kam_sync_connectors.salesforce.connector import SalesforceConnector

# UserPermissionAccess field -> (label, needed for runs, why)
PERMISSIONS = {
    "PermissionsApiEnabled": ("API Enabled", True, "every API call"),
    "PermissionsViewSetup": (
        "View Setup and Configuration",
        False,
        "reading the daily API allocation from /limits before a run",
    ),
    "PermissionsCustomizeApplication": (
        "Customize Application",
        False,
        "creating the KAM fields and permission sets (kam-sync provision)",
    ),
}
AUTH_FIXES = {
    "jwt": "upload the certificate of KAM_SYNC_SF_PRIVATE_KEY_FILE to the connected app, "
    "pre-authorize the integration user (Manage Connected Apps > Permitted Users: admin "
    "approved), and check KAM_SYNC_SF_USERNAME",
    "client_credentials": "enable the client credentials flow on the connected app with the "
    f"integration user as Run As user; {MY_DOMAIN_FIX}",
    "password": "check KAM_SYNC_SF_USERNAME, KAM_SYNC_SF_PASSWORD and the security token, or "
    "better switch to auth: jwt",
    "session": "set a fresh KAM_SYNC_SF_SESSION_ID and crm.salesforce.instance_url",
}


def diagnose(connector: SalesforceConnector) -> list[DoctorCheck]:
    """The checks in the order a person fixes them."""
    settings = connector.settings
    login_url = str(settings.login_url).rstrip("/")
    flow = f"{settings.auth} against {login_url}"
    checks: list[DoctorCheck] = []
    if settings.auth == "client_credentials" and is_generic_login_host(login_url):
        checks.append(
            DoctorCheck("auth", False, f"{flow}: this flow needs the My Domain URL", MY_DOMAIN_FIX)
        )
        return checks
    try:
        grant = connector.client.grant
    except AuthError as exc:
        checks.append(DoctorCheck("connection", True, f"{login_url} answers"))
        checks.append(DoctorCheck("auth", False, f"{flow}: {exc}", AUTH_FIXES[settings.auth]))
        return checks
    except FatalApiError as exc:
        if exc.error_code == TLS_ERROR_CODE:
            checks.append(
                DoctorCheck(
                    "connection",
                    False,
                    str(exc),
                    "set crm.salesforce.ca_bundle (or REQUESTS_CA_BUNDLE) to the CA file that "
                    "signs the certificate",
                )
            )
        else:
            checks.append(
                DoctorCheck("connection", False, f"{flow}: {exc}", "check login_url and network")
            )
        return checks
    except KamSyncError as exc:
        checks.append(
            DoctorCheck(
                "connection",
                False,
                f"{login_url}: {exc}",
                "check crm.salesforce.login_url, the network and HTTPS_PROXY",
            )
        )
        return checks
    checks.append(
        DoctorCheck("connection", True, f"{login_url} and {grant.instance_url} answer over TLS")
    )
    checks.append(DoctorCheck("auth", True, f"{flow}: logged in"))
    checks.extend(_permissions(connector))
    checks.append(_budget(connector))
    return checks


def _permissions(connector: SalesforceConnector) -> list[DoctorCheck]:
    fields = ", ".join(PERMISSIONS)
    try:
        result = connector.client.call(
            "read user permissions",
            lambda sf: sf.query(f"SELECT {fields} FROM UserPermissionAccess"),
        )
    except KamSyncError as exc:
        return [
            DoctorCheck(
                "permissions",
                False,
                f"the user's permissions could not be read: {exc}",
                "give the integration user API Enabled (profile or permission set)",
            )
        ]
    rows = list(result.get("records") or ()) if isinstance(result, dict) else []
    row = rows[0] if rows else {}
    checks = []
    for name, (label, needed, why) in PERMISSIONS.items():
        held = bool(row.get(name))
        if held:
            checks.append(DoctorCheck(f"permission {label}", True, f"held: needed for {why}"))
        elif needed:
            checks.append(
                DoctorCheck(
                    f"permission {label}",
                    False,
                    f"missing: needed for {why}",
                    f"give the integration user '{label}' in a permission set",
                )
            )
        else:
            checks.append(
                DoctorCheck(
                    f"permission {label}",
                    True,
                    f"not held: needed only for {why}; "
                    + (
                        "the budget is read from response headers instead"
                        if name == "PermissionsViewSetup"
                        else "an admin runs `kam-sync provision` instead"
                    ),
                )
            )
    return checks


def _budget(connector: SalesforceConnector) -> DoctorCheck:
    return budget_check(
        connector.check_quota,
        exhausted_fix="wait for the rolling 24-hour allocation to free up, or raise "
        "quota_stop_at_percent",
        left=lambda s: (
            f"{s.remaining:,} of {s.limit:,} calls left in the last 24 hours (read from {s.source})"
        ),
    )
