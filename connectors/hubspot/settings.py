"""HubSpot connection settings, as written under ``crm.hubspot`` in ``kam-sync.yaml``.

Secrets are not settings: they come from the environment (see ``SECRET_ENV_VARS``).
Every bound is named here, with HubSpot's documented limit as the default where HubSpot
documents one (the exceptions say so).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, field_validator, model_validator

from kam_sync_connectors.settings_base import ConnectorSettings, refuse_plain_http

# HubSpot's documented maxima per request: list 100 records, search 200, batch read/update 100.
LIST_LIMIT = 100
SEARCH_LIMIT = 200
BATCH_LIMIT = 100

# Daily API calls per account by subscription tier (developers.hubspot.com/docs/
# developer-tooling/platform/usage-guidelines, "API usage guidelines and limits": Free and
# Starter 250,000, Professional 625,000, Enterprise 1,000,000; the API limit increase pack adds
# 1,000,000 per pack). Private-app responses carry the account's figure in
# ``X-HubSpot-RateLimit-Daily``; OAuth responses carry no daily headers.
HubSpotTier = Literal["free", "starter", "professional", "enterprise"]
DAILY_LIMIT_BY_TIER: dict[str, int] = {
    "free": 250_000,
    "starter": 250_000,
    "professional": 625_000,
    "enterprise": 1_000_000,
}
SMALLEST_DAILY_LIMIT = min(DAILY_LIMIT_BY_TIER.values())

SECRET_ENV_VARS = {
    "token": "KAM_SYNC_HUBSPOT_TOKEN",
    "access_token": "KAM_SYNC_HUBSPOT_TOKEN",
    "client_id": "KAM_SYNC_HUBSPOT_CLIENT_ID",
    "client_secret": "KAM_SYNC_HUBSPOT_CLIENT_SECRET",
    "refresh_token": "KAM_SYNC_HUBSPOT_REFRESH_TOKEN",
}


class HubSpotSettings(ConnectorSettings):
    """How to reach one HubSpot account (the common bounds, retries, time-out, look-back, quota
    and ``ca_bundle``, are in ``ConnectorSettings``)."""

    base_url: HttpUrl = Field(default=HttpUrl("https://api.hubapi.com"), description="API base URL")
    portal_id: int | None = Field(
        default=None,
        ge=1,
        description="the account's portal (Hub) id, shown in HubSpot under Account & Billing: "
        "alerts link to the records with it (none set: names without links)",
    )
    app_url: HttpUrl = Field(
        default=HttpUrl("https://app.hubspot.com"),
        description="HubSpot's web app for record links; https://app-eu1.hubspot.com for an "
        "account hosted in the EU",
    )
    auth: Literal["private_app", "oauth"] = Field(
        default="private_app",
        description="private_app: KAM_SYNC_HUBSPOT_TOKEN; oauth: client + refresh token",
    )
    rate_limit_tier: Literal[100, 190, 250] = Field(
        default=190, description="requests per 10 seconds allowed by the account's tier"
    )
    rate_limit_window_seconds: float = Field(
        default=10.0, gt=0, description="length of the tier's rolling window"
    )
    rate_limit_margin_seconds: float = Field(
        default=0.25, ge=0, description="keep the ten-second window this much longer"
    )
    search_rate_limit_margin_seconds: float = Field(
        default=0.05, ge=0, description="keep search's one-second window this much longer"
    )
    search_requests_per_second: int = Field(
        default=5, ge=1, le=5, description="search endpoints' own limit, per second"
    )
    tier: HubSpotTier | None = Field(
        default=None,
        description="the account's subscription tier (free, starter, professional, enterprise): "
        "its daily API limit until HubSpot reports one",
    )
    daily_limit: int | None = Field(
        default=None,
        ge=1,
        description="the account's daily API limit (with capacity packs); overrides tier. "
        "Neither set: the smallest tier's 250,000. Private-app responses' "
        "X-HubSpot-RateLimit-Daily header replaces it once read",
    )
    enumeration_max_options: int = Field(
        default=5000,
        ge=1,
        le=5000,
        description="most options provisioning gives an enumeration property (HubSpot allows "
        "5,000)",
    )
    option_max_characters: int = Field(
        default=3000,
        ge=10,
        le=3000,
        description="most characters of an option's label, value and description together "
        "(HubSpot allows 3,000); longer checklist questions get a shortened label",
    )
    list_page_size: int = Field(
        default=LIST_LIMIT, ge=1, le=LIST_LIMIT, description="records per list call (max 100)"
    )
    search_page_size: int = Field(
        default=SEARCH_LIMIT, ge=1, le=SEARCH_LIMIT, description="records per search call (max 200)"
    )
    search_result_cap: int = Field(
        default=10_000, ge=1, description="results one search query can page through"
    )
    write_batch_size: int = Field(
        default=BATCH_LIMIT, ge=1, le=BATCH_LIMIT, description="records per batch update (max 100)"
    )
    # Not a HubSpot limit: batch updates under way at once. HubSpot limits calls per window,
    # not calls at once; one batch at a time cannot reach the window's rate once a batch update
    # takes longer to answer than the rate allows (40 ms at 250 calls per 10 s).
    write_requests_in_flight: int = Field(
        default=4,
        ge=1,
        le=16,
        description="batch updates under way at once (the rate limiter still paces them)",
    )
    # v4 associations batch read: at most 1,000 ids per request (HubSpot changelog, "Bug Fix:
    # Batch Read Limit for HubSpot Associations API", effective 2025-02-10).
    associations_batch_size: int = Field(
        default=1_000, ge=1, le=1_000, description="ids per associations batch read (max 1,000)"
    )
    # Not a HubSpot limit: how many association batch reads run beside the pull. Search has a
    # per-second limit of its own, and every call waits for HubSpot's answer; a read sent while
    # the next pages are fetched takes no wall time of its own.
    association_reads_in_flight: int = Field(
        default=1,
        ge=0,
        le=4,
        description="association batch reads sent while the pull goes on (0: one at a time, "
        "between pages)",
    )
    # HubSpot documents a 414 for over-long request URIs but not the length; 8,000 bytes is
    # below what common HTTP front ends accept. Longer property lists go in a POST body.
    max_uri_length: int = Field(
        default=8_000,
        ge=256,
        description="longest request URI; longer property lists are sent in a POST body",
    )
    pull_archived: bool = Field(
        default=True, description="read archived records as deletions on every pull"
    )
    # Not a HubSpot limit: how stale a deletion may be. Each sweep lists every archived record
    # (100 a call, ids and stamps only), since the list endpoint cannot filter by date. 0 keeps
    # deletions prompt for runs more frequent than daily; a nightly schedule sweeps once a night
    # with 0 or 24 alike.
    archived_sweep_interval_hours: float = Field(
        default=0.0,
        ge=0,
        description="an incremental pull lists archived records when its window crosses a "
        "multiple of this interval (UTC, from the epoch; 0: every pull)",
    )
    # Not a HubSpot limit: pages fetched while the engine stores the ones before, so calls go
    # out at the rate limit rather than only when the engine asks (connectors/prefetch.py).
    # 12: more than the pages one association read releases at once (1,000 ids, 10 list pages),
    # so the fetching goes on while the engine stores them; a page is 100-200 small records.
    prefetch_pages: int = Field(
        default=12,
        ge=0,
        le=50,
        description="pages a pull fetches ahead of the engine (0: one at a time, when asked)",
    )
    # Not a HubSpot limit: how long a record that vanished without an archive trace may stay in
    # scope. Records permanently deleted (after the 90-day restore window, or a GDPR deletion)
    # are neither listed nor archived, and no survivor names them as it names merged records;
    # listing every id finds them: one list call per 100 records of each pulled object.
    id_reconciliation_days: float = Field(
        default=7.0,
        ge=0,
        description="list every record id this often (days; 0: never) to find records that "
        "vanished without an archive trace (permanently or GDPR-deleted)",
    )
    # HubSpot's ten-second window refills slowly under load: more, shorter first tries than
    # Salesforce's defaults, and a single wait as long as a MINUTELY policy's window.
    retry_max_attempts: int = Field(
        default=8,
        ge=1,
        le=20,
        description="attempts per call on transient failures (connection, time-out, 5xx, 429), "
        "the first included",
    )
    retry_initial_wait_seconds: float = Field(
        default=0.5,
        ge=0,
        description="first back-off when the server sends no Retry-After; doubles",
    )
    retry_max_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        description="longest single wait, a Retry-After from the server included",
    )
    retry_max_total_wait_seconds: float = Field(
        default=300.0, ge=0, description="give up when the waits of one call would pass this"
    )
    # Records a batch update refuses because another write holds them (409 CONFLICT, 423
    # LOCKED): retry rounds within the push and their back-off, as Salesforce's lock retries.
    lock_retry_attempts: int = Field(
        default=3,
        ge=0,
        le=10,
        description="retry rounds within a push for records refused as locked (CONFLICT, LOCKED)",
    )
    lock_retry_wait_seconds: float = Field(
        default=2.0, ge=0, description="wait before the first lock retry round; doubles each round"
    )
    token_refresh_margin_seconds: float = Field(
        default=60.0, ge=0, description="renew an OAuth access token this long before it expires"
    )

    @model_validator(mode="after")
    def _tier_and_limit_agree(self) -> HubSpotSettings:
        if self.tier is not None and self.daily_limit is not None:
            by_tier = DAILY_LIMIT_BY_TIER[self.tier]
            if self.daily_limit < by_tier:
                raise ValueError(
                    f"crm.hubspot.daily_limit {self.daily_limit} is below the {self.tier} "
                    f"tier's {by_tier}; set one of the two"
                )
        return self

    def configured_daily_limit(self) -> int:
        """The daily limit to assume until HubSpot reports its own: ``daily_limit``, else the
        ``tier``'s, else the smallest tier's (an unknown portal is not assumed to be large)."""
        if self.daily_limit is not None:
            return self.daily_limit
        if self.tier is not None:
            return DAILY_LIMIT_BY_TIER[self.tier]
        return SMALLEST_DAILY_LIMIT

    @field_validator("base_url")
    @classmethod
    def _no_plain_http(cls, url: HttpUrl) -> HttpUrl:
        checked = refuse_plain_http(url)
        assert checked is not None
        return checked
