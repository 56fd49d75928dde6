"""``GET /account-info/v3/details``: the sandbox portal's id, company currency and web domain.

The documented shape (developers.hubspot.com/docs/api-reference/latest/account/
account-information/get-account-details, "Retrieve account details"): ``portalId``,
``accountType``, ``companyCurrency``, ``additionalCurrencies``, ``timeZone``, ``utcOffset``,
``utcOffsetMilliseconds``, ``uiDomain`` and ``dataHostingLocation``, all required. The endpoint
needs the ``oauth`` scope, which HubSpot grants every app; a token without it gets 403
``MISSING_SCOPES`` (developers.hubspot.com/docs/api-reference/error-handling), as here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kam_sync.sandbox.hubspot.errors import error_body
from kam_sync.sandbox.hubspot.seed_values import PortalCurrencies
from kam_sync.sandbox.server import Response, json_response

ACCOUNT_INFO_SCOPE = "oauth"
# The sandbox portal runs on UTC and is hosted in North America (HubSpot's ``na1``).
SANDBOX_TIME_ZONE = "Etc/UTC"
SANDBOX_HOSTING = "na1"
US_UI_DOMAIN = "app.hubspot.com"


def account_details(
    *,
    hub_id: int,
    currencies: PortalCurrencies,
    ui_domain: str,
    scopes: Sequence[str],
) -> Response:
    """The answer to ``GET /account-info/v3/details`` for a token with ``scopes``."""
    if ACCOUNT_INFO_SCOPE not in scopes:
        return json_response(
            403,
            error_body(
                "This app hasn't been granted all required scopes to make this call.",
                "MISSING_SCOPES",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": [ACCOUNT_INFO_SCOPE]},
                    }
                ],
            ),
        )
    body: dict[str, Any] = {
        "portalId": hub_id,
        "accountType": "STANDARD",
        "companyCurrency": currencies.company_currency,
        "additionalCurrencies": sorted(set(currencies.rates) - {currencies.company_currency}),
        "timeZone": SANDBOX_TIME_ZONE,
        "utcOffset": "+00:00",
        "utcOffsetMilliseconds": 0,
        "uiDomain": ui_domain,
        "dataHostingLocation": SANDBOX_HOSTING,
    }
    return json_response(200, body)
