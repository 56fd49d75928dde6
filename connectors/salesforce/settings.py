"""Salesforce connection settings, as written under ``crm.salesforce`` in ``kam-sync.yaml``.

Secrets are not settings: they come from the environment (see ``SECRET_ENV_VARS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

SECRET_ENV_VARS = {
    "client_id": "KAM_SYNC_SF_CLIENT_ID",
    "client_secret": "KAM_SYNC_SF_CLIENT_SECRET",
    "username": "KAM_SYNC_SF_USERNAME",
    "password": "KAM_SYNC_SF_PASSWORD",
    "security_token": "KAM_SYNC_SF_SECURITY_TOKEN",
    "private_key": "KAM_SYNC_SF_PRIVATE_KEY_FILE",
    "private_key_file": "KAM_SYNC_SF_PRIVATE_KEY_FILE",
    "session_id": "KAM_SYNC_SF_SESSION_ID",
}


class SalesforceSettings(BaseModel):
    """How to reach one Salesforce org."""

    model_config = ConfigDict(extra="forbid")

    login_url: HttpUrl = Field(
        default=HttpUrl("https://login.salesforce.com"),
        description="https://login.salesforce.com, https://test.salesforce.com or a My Domain URL",
    )
    auth: Literal["jwt", "client_credentials", "password", "session"] = Field(
        default="jwt", description="OAuth flow; credentials come from KAM_SYNC_SF_* variables"
    )
    instance_url: HttpUrl | None = Field(
        default=None, description="Instance URL, needed with auth: session"
    )
    api_version: str = Field(default="62.0", pattern=r"^\d{2,3}\.0$")
    ca_bundle: Path | None = Field(
        default=None, description="CA bundle for TLS inspection proxies; verification stays on"
    )
    timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    query_batch_size: int = Field(default=2000, ge=200, le=2000)
    write_batch_size: int = Field(default=200, ge=1, le=200)
    bulk_query_threshold: int = Field(default=50_000, ge=1)
    bulk_write_threshold: int = Field(default=2_000, ge=1)
    look_back_minutes: float = Field(default=10.0, ge=0)
    quota_stop_at_percent: float = Field(default=80.0, gt=0, le=100)
    quota_max_percent_per_run: float = Field(default=25.0, gt=0, le=100)
