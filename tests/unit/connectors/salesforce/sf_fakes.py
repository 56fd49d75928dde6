"""Constants and canned responses for the Salesforce connector's `responses` tests."""

from __future__ import annotations

import responses

LOGIN = "https://login.salesforce.com"
INSTANCE = "https://acme.my.salesforce.com"
API = f"{INSTANCE}/services/data/v62.0"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"


def token_ok(rsps: responses.RequestsMock, token: str = "00Dtoken-1") -> None:
    rsps.post(
        TOKEN_URL,
        json={
            "access_token": token,
            "instance_url": INSTANCE,
            "id": f"{LOGIN}/id/00D000000000001EAA/005000000000001AAA",
            "token_type": "Bearer",
        },
    )
