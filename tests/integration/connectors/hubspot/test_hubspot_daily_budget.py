"""The daily API budget fits the portal: the tier's limit, read from HubSpot where it says it,
else configured; OAuth runs, which HubSpot sends no daily headers, count their own calls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot_sandbox_support import oauth_app, private_app

from kam_sync.errors import QuotaExhaustedError
from kam_sync.sandbox.runner import SandboxHandle, running_sandbox
from kam_sync_connectors.hubspot.settings import HubSpotSettings


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    # Tier 100: a Free/Starter portal, 250,000 calls a day.
    with running_sandbox("hubspot", accounts=30, seed=5, rate_limit_tier=100) as handle:
        yield handle


def test_without_a_tier_or_limit_the_smallest_tiers_daily_limit_is_assumed() -> None:
    assert HubSpotSettings().configured_daily_limit() == 250_000
    assert HubSpotSettings(tier="starter").configured_daily_limit() == 250_000
    assert HubSpotSettings(tier="professional").configured_daily_limit() == 625_000
    assert HubSpotSettings(tier="enterprise").configured_daily_limit() == 1_000_000
    assert HubSpotSettings(daily_limit=2_000_000).configured_daily_limit() == 2_000_000


def test_a_daily_limit_below_the_tiers_own_is_refused_as_contradictory() -> None:
    with pytest.raises(ValueError, match="below the enterprise tier"):
        HubSpotSettings(tier="enterprise", daily_limit=250_000)


def test_a_private_app_reads_the_portals_daily_limit_from_the_header(
    sandbox: SandboxHandle,
) -> None:
    # Configured as Enterprise, but the portal says 250,000: HubSpot's figure wins.
    status = private_app(sandbox, tier="enterprise", rate_limit_tier=100).check_quota()
    assert status.limit == 250_000
    assert status.used is not None and 0 < status.used < 10


def test_oauth_responses_carry_no_daily_headers_so_the_configured_limit_stands(
    sandbox: SandboxHandle,
) -> None:
    connector = oauth_app(sandbox, tier="professional", rate_limit_tier=100)
    status = connector.check_quota()
    assert status.limit == 625_000  # the setting's, not the sandbox portal's 250,000
    # Usage known is this run's own: the token renewal and the quota call.
    assert status.used == 2 == sum(status.calls_by_kind.values())


def test_an_oauth_run_stops_at_its_share_of_the_configured_daily_limit(
    sandbox: SandboxHandle,
) -> None:
    # 250,000 a day (Starter, the default), at most 0.002 % per run: 5 calls.
    connector = oauth_app(sandbox, quota_max_percent_per_run=0.002, rate_limit_tier=100)
    connector.check_quota()  # token + quota: 2 calls
    with pytest.raises(QuotaExhaustedError) as caught:
        for _ in range(10):
            connector.describe("companies")
    assert caught.value.error_code == "KAM_RUN_BUDGET"
    assert sum(connector.quota().calls_by_kind.values()) == 5


def test_an_oauth_run_counts_its_own_calls_against_the_days_stop_line(
    sandbox: SandboxHandle,
) -> None:
    # A 100-call day with a 5 % stop line: the sixth call is refused, by the day's line,
    # though no header ever reported the account's usage.
    connector = oauth_app(
        sandbox,
        daily_limit=100,
        quota_stop_at_percent=5,
        quota_max_percent_per_run=100,
        rate_limit_tier=100,
    )
    with pytest.raises(QuotaExhaustedError) as caught:
        for _ in range(10):
            connector.describe("deals")
    assert caught.value.error_code == "KAM_DAILY_BUDGET"
    assert sum(connector.quota().calls_by_kind.values()) == 5
