"""Salesforce connection settings, as written under ``crm.salesforce`` in ``kam-sync.yaml``.

Secrets are not settings: they come from the environment (see ``SECRET_ENV_VARS``). Every bound
the connector uses is here, named, with Salesforce's documented limit or guidance as default.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, HttpUrl, ValidationInfo, field_validator

from kam_sync_connectors.settings_base import ConnectorSettings, refuse_plain_http

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


# Salesforce's shared login hosts. The OAuth 2.0 client credentials flow is served only on an
# org's My Domain: on these hosts the token endpoint answers ``invalid_grant: request not
# supported on this domain`` (Salesforce Help, "OAuth 2.0 Client Credentials Flow for
# Server-to-Server Integration": "use your My Domain URL ... login.salesforce.com and
# test.salesforce.com aren't supported").
GENERIC_LOGIN_HOSTS = frozenset({"login.salesforce.com", "test.salesforce.com"})
MY_DOMAIN_FIX = "set login_url to your My Domain URL, https://yourcompany.my.salesforce.com"


def is_generic_login_host(url: object) -> bool:
    """True when ``url`` points at login.salesforce.com or test.salesforce.com."""
    return (urlsplit(str(url)).hostname or "").lower() in GENERIC_LOGIN_HOSTS


class SalesforceSettings(ConnectorSettings):
    """How to reach one Salesforce org, and the bounds the connector keeps to (the common ones,
    retries, time-out, look-back, quota and ``ca_bundle``, are in ``ConnectorSettings``)."""

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
    jwt_audience: str | None = Field(
        default=None,
        description="JWT 'aud' claim; default https://login.salesforce.com (test.salesforce.com "
        "for sandboxes), or the login URL itself when it is not a salesforce.com host",
    )
    api_version: str = Field(
        default="62.0",
        pattern=r"^\d{2,3}\.0$",
        description="Salesforce REST API version, e.g. 62.0",
    )
    # REST query: Sforce-Query-Options batchSize is 200..2000, default 2000.
    query_batch_size: int = Field(
        default=2000,
        ge=200,
        le=2000,
        description="records per query page (Sforce-Query-Options batchSize, 200..2000)",
    )
    # sObject Collections take at most 200 records per request.
    write_batch_size: int = Field(
        default=200,
        ge=1,
        le=200,
        description="records per sObject Collections request (Salesforce's maximum: 200)",
    )
    bulk_query_threshold: int = Field(
        default=50_000,
        ge=1,
        description="a first full pull of more records than this uses a Bulk API 2.0 job",
    )
    bulk_write_threshold: int = Field(
        default=2_000,
        ge=1,
        description="more updates than this go through a Bulk API 2.0 ingest job",
    )
    # Bulk API 2.0 accepts up to 100 MB of CSV per job upload (base64 would be 150 MB).
    bulk_max_upload_bytes: int = Field(
        default=100_000_000,
        ge=1_000,
        le=100_000_000,
        description="CSV bytes per ingest job (Bulk API 2.0 maximum: 100 MB)",
    )
    # 10,000 rather than more: a page is parsed whole in memory, and at 10,000 records a
    # 250,000-record first pull still takes only 25 result pages.
    bulk_query_page_records: int = Field(
        default=10_000,
        ge=1,
        description="records per page of Bulk API 2.0 query results (maxRecords)",
    )
    # A job's status is checked after 1 s, then at doubling waits up to 30 s apart: an
    # hour-long job costs about 130 status calls instead of 1,800 at a fixed 2 s.
    bulk_poll_interval_seconds: float = Field(
        default=1.0, ge=0, description="first wait between Bulk API 2.0 job status checks"
    )
    bulk_poll_max_interval_seconds: float = Field(
        default=30.0,
        ge=0,
        description="longest wait between Bulk API 2.0 job status checks (the wait doubles)",
    )
    # Bulk API 2.0 ingest takes at most 32,000 characters per field ("Limits and
    # Allocations"); longer texts are cut to this length in bulk writes.
    bulk_max_field_chars: int = Field(
        default=32_000,
        ge=1,
        le=32_000,
        description="characters per field in a Bulk API 2.0 write (Salesforce's maximum: 32,000)",
    )
    bulk_max_wait_seconds: float = Field(
        default=3_600.0, gt=0, description="stop waiting for a Bulk API 2.0 job after this long"
    )
    # sObject Get Deleted returns deletions "for no more than 15 days previous to the day the
    # call is executed" (REST API Developer Guide).
    get_deleted_days: int = Field(
        default=15,
        ge=1,
        le=15,
        description="how far back incremental pulls read the delete log (Salesforce: 15 days)",
    )
    # Records deleted before the delete log reaches (15 days, or less after a purge) are found
    # by listing every id: one query call per 2,000 records of each pulled object.
    id_reconciliation_days: float = Field(
        default=7.0,
        ge=0,
        description="list every record id this often (days; 0: never) to find records deleted "
        "past Salesforce's delete log",
    )
    # UNABLE_TO_LOCK_ROW: retry rounds and their back-off.
    lock_retry_attempts: int = Field(
        default=3,
        ge=0,
        le=10,
        description="retry rounds for records that failed with UNABLE_TO_LOCK_ROW",
    )
    lock_retry_wait_seconds: float = Field(
        default=2.0, ge=0, description="wait before the first lock retry round; doubles each round"
    )
    lock_parent_fields: dict[str, str] = Field(
        default_factory=lambda: {"Account": "ParentId", "Opportunity": "AccountId"},
        description="per object, the field naming the parent account that lock retries group by",
    )
    permission_set_name: str = Field(
        default="KAM_Sync_Integration",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$",
        description="API name of the permission set provisioning creates and assigns",
    )
    permission_set_label: str = Field(
        default="KAM Sync Integration", max_length=80, description="label of that permission set"
    )
    users_permission_set_name: str = Field(
        default="KAM_Sync_Users",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$",
        description="API name of the permission set provisioning creates for sales users: read "
        "on every KAM field, edit on the KAM inputs people fill in (an admin assigns it)",
    )
    users_permission_set_label: str = Field(
        default="KAM Sync Users", max_length=80, description="label of that permission set"
    )
    picklist_label_max_length: int = Field(
        default=255,
        ge=1,
        le=255,
        description="longest picklist value label provisioning writes (Salesforce allows 255 "
        "characters); longer checklist questions are shortened, the whole text is the value's "
        "description",
    )
    picklist_max_values: int = Field(
        default=1000,
        ge=1,
        le=1000,
        description="most values (active and retired) a picklist provisioning makes may hold; "
        "Salesforce allows 1,000 in a restricted picklist",
    )

    @field_validator("auth")
    @classmethod
    def _client_credentials_need_my_domain(cls, auth: str, info: ValidationInfo) -> str:
        # Checked on ``auth`` (declared after ``login_url``) so that the default login_url is
        # seen too, and the message lands at the ``auth:`` line the user wrote.
        if auth == "client_credentials" and is_generic_login_host(info.data.get("login_url")):
            raise ValueError(
                "the client credentials flow works only on your org's My Domain, not on "
                f"login.salesforce.com or test.salesforce.com: {MY_DOMAIN_FIX}"
            )
        return auth

    @field_validator("login_url", "instance_url")
    @classmethod
    def _no_plain_http(cls, url: HttpUrl | None) -> HttpUrl | None:
        return refuse_plain_http(url)
