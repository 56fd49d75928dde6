"""HubSpot connection settings, as written under ``crm.hubspot`` in ``kam-sync.yaml``.

Secrets are not settings: they come from the environment (see ``SECRET_ENV_VARS``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

SECRET_ENV_VARS = {
    "token": "KAM_SYNC_HUBSPOT_TOKEN",
    "access_token": "KAM_SYNC_HUBSPOT_TOKEN",
    "client_id": "KAM_SYNC_HUBSPOT_CLIENT_ID",
    "client_secret": "KAM_SYNC_HUBSPOT_CLIENT_SECRET",
    "refresh_token": "KAM_SYNC_HUBSPOT_REFRESH_TOKEN",
}


class HubSpotSettings(BaseModel):
    """How to reach one HubSpot account."""

    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl = Field(default=HttpUrl("https://api.hubapi.com"))
    auth: Literal["private_app", "oauth"] = Field(
        default="private_app", description="private_app: KAM_SYNC_HUBSPOT_TOKEN; oauth: client + refresh token"
    )
    rate_limit_tier: Literal[100, 190, 250] = Field(
        default=190, description="requests per 10 seconds allowed by the account's tier"
    )
    daily_limit: int = Field(default=1_000_000, ge=1)
    timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    list_page_size: int = Field(default=100, ge=1, le=100)
    search_page_size: int = Field(default=200, ge=1, le=200)
    write_batch_size: int = Field(default=100, ge=1, le=100)
    look_back_minutes: float = Field(default=10.0, ge=0)
    quota_stop_at_percent: float = Field(default=80.0, gt=0, le=100)
    quota_max_percent_per_run: float = Field(default=25.0, gt=0, le=100)
