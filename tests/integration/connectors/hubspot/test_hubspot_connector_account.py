"""Auth, daily budget, client-side rate limiting and property provisioning against the sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hubspot_sandbox_support import oauth_app, private_app, pull_request, records, requests_of

from kam_sync.errors import AuthError, QuotaExhaustedError
from kam_sync.sandbox.runner import SandboxHandle, running_sandbox
from kam_sync_connectors.base import CustomFieldSpec, RecordUpdate
from kam_sync_connectors.hubspot import connect
from kam_sync_connectors.hubspot.settings import HubSpotSettings

TIERS = ("strategic", "key", "emerging", "watchlist", "none")
FLAGS = (
    "over_cap",
    "growth_alert",
    "review_due",
    "missing_roles",
    "manual_override",
    "tier_override",
    "waitlisted",
)
WRITE_BACK = [
    CustomFieldSpec("companies", "kam_tier", "KAM tier", "picklist", values=TIERS),
    CustomFieldSpec(
        "companies",
        "kam_classification",
        "KAM classification",
        "picklist",
        values=("existing_key", "emerging_key", "not_key"),
        labels=("Existing Key", "Emerging Key", "Not Key"),
    ),
    CustomFieldSpec("companies", "kam_score", "KAM score", "number", precision=5, scale=2),
    CustomFieldSpec("companies", "kam_score_explanation", "KAM score explanation", "longtext"),
    CustomFieldSpec(
        "companies",
        "kam_plan_stage",
        "KAM plan stage",
        "picklist",
        values=("strategy", "research", "action_plan", "execution", "review"),
    ),
    CustomFieldSpec("companies", "kam_checklist_completion", "KAM checklist %", "percent"),
    CustomFieldSpec("companies", "kam_checklist_gaps", "KAM checklist gaps", "longtext"),
    CustomFieldSpec("companies", "kam_flags", "KAM flags", "multipicklist", values=FLAGS),
    CustomFieldSpec("companies", "kam_last_assessed", "KAM last assessed", "datetime"),
]


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox("hubspot", accounts=40, seed=11) as handle:
        yield handle


def test_an_expired_oauth_token_is_renewed_and_the_run_goes_on(sandbox: SandboxHandle) -> None:
    connector = oauth_app(sandbox)
    first = records(connector.pull(pull_request("companies", ("name",))))
    assert requests_of(sandbox, "auth", "POST") == 1  # the first access token
    sandbox.app.expire_sessions()
    second = records(connector.pull(pull_request("companies", ("name",))))
    assert len(second) == len(first) == 40
    assert requests_of(sandbox, "auth", "POST") == 2
    assert connector.quota().calls_by_kind["oauth"] == 2


def test_a_wrong_refresh_token_is_an_auth_error_naming_no_secret(sandbox: SandboxHandle) -> None:
    env = {
        "KAM_SYNC_HUBSPOT_CLIENT_ID": sandbox.credentials["client_id"],
        "KAM_SYNC_HUBSPOT_CLIENT_SECRET": sandbox.credentials["client_secret"],
        "KAM_SYNC_HUBSPOT_REFRESH_TOKEN": "not-the-refresh-token",
    }
    connector = connect(HubSpotSettings(base_url=sandbox.base_url, auth="oauth"), env)
    with pytest.raises(AuthError) as info:
        connector.describe("companies")
    message = str(info.value)
    assert "not-the-refresh-token" not in message
    assert sandbox.credentials["client_secret"] not in message


def test_missing_secrets_are_named_by_their_environment_variables() -> None:
    with pytest.raises(AuthError, match="KAM_SYNC_HUBSPOT_TOKEN"):
        connect(HubSpotSettings(), {})
    with pytest.raises(AuthError, match="KAM_SYNC_HUBSPOT_REFRESH_TOKEN"):
        connect(
            HubSpotSettings(auth="oauth"),
            {"KAM_SYNC_HUBSPOT_CLIENT_ID": "x", "KAM_SYNC_HUBSPOT_CLIENT_SECRET": "y"},
        )


def test_a_nearly_spent_daily_allocation_stops_the_pull_after_one_call(
    sandbox: SandboxHandle,
) -> None:
    sandbox.set_faults("quota=1000")  # 1,000 calls left of the day's 625,000
    connector = private_app(sandbox)
    with pytest.raises(QuotaExhaustedError):
        list(connector.pull(pull_request("companies", ("name",))))
    assert sandbox.stats()["requests_total"] == 1
    status = connector.quota()
    assert status.limit == 625_000
    assert status.remaining is not None and status.remaining < 1_000


def test_the_run_starts_with_one_call_that_reads_the_daily_allocation(
    sandbox: SandboxHandle,
) -> None:
    connector = private_app(sandbox)
    status = connector.check_quota()
    assert sandbox.stats()["requests_total"] == 1
    assert status.limit == 625_000 and status.used is not None and status.used < 10
    assert status.calls_by_kind == {"quota": 1}

    sandbox.set_faults("quota=100000")  # the account has used 525,000: past 80% of the day
    with pytest.raises(QuotaExhaustedError):
        private_app(sandbox).check_quota()


def test_provisioning_twice_creates_once_then_changes_nothing(sandbox: SandboxHandle) -> None:
    connector = private_app(sandbox)
    first = connector.provision(WRITE_BACK)
    assert first.created == ["companies group kam"] + [f"companies.{s.name}" for s in WRITE_BACK]
    assert first.problems == []
    described = connector.describe("companies").fields
    assert described["kam_flags"].picklist_values == FLAGS
    assert described["kam_tier"].type == "enumeration"
    assert described["kam_last_assessed"].type == "datetime"
    group = sandbox.app.store.companies.registry.get("kam_flags")
    assert (group.group_name, group.field_type) == ("kam", "checkbox")

    sandbox.reset_stats()
    second = connector.provision(WRITE_BACK)
    assert second.created == second.updated == second.problems == []
    assert len(second.unchanged) == len(WRITE_BACK)
    assert requests_of(sandbox, "metadata") == 0
    assert requests_of(sandbox, "describe") == 2  # groups + properties


def test_provisioning_adds_missing_options_and_reports_type_mismatches(
    sandbox: SandboxHandle,
) -> None:
    connector = private_app(sandbox)
    connector.provision(
        [
            CustomFieldSpec("companies", "kam_tier", "KAM tier", "picklist", values=TIERS[:3]),
            CustomFieldSpec("companies", "kam_score", "KAM score", "text"),
        ]
    )
    report = connector.provision(WRITE_BACK[:3])
    assert report.updated == ["companies.kam_tier (+watchlist, none)"]
    assert len(report.problems) == 1 and "companies.kam_score" in report.problems[0]
    tier = connector.describe("companies").fields["kam_tier"]
    assert tier.picklist_values == TIERS


@pytest.mark.slow
def test_the_client_keeps_within_the_ten_second_window_without_a_single_429() -> None:
    with running_sandbox("hubspot", accounts=5, seed=2, rate_limit_tier=100) as sandbox:
        connector = private_app(sandbox, rate_limit_tier=100)
        started = time.monotonic()
        for _ in range(110):
            connector.describe("deals")
        elapsed = time.monotonic() - started
        stats = sandbox.stats()
    assert stats["requests_total"] == 110
    assert not any(kind.startswith("rate_limit") for kind in stats["faults"])
    assert elapsed >= 9.0  # the 101st call waited for the window to roll


def test_a_batch_refused_whole_is_split_until_only_the_bad_record_fails(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HubSpot may refuse a whole batch with one 400 for one bad value; suppose a value slipped
    # past the checks (an option removed in HubSpot since the describe, say).
    import kam_sync_connectors.hubspot.connector as connector_module

    monkeypatch.setattr(connector_module, "check_update", lambda *_args: None)
    sandbox.app.invalid_values = "whole_batch"
    connector = private_app(sandbox)
    connector.set_write_back_targets("deals", ["dealname", "dealtype"])
    deals = [str(i) for i in sandbox.app.store.deals.ids[:100]]
    updates = [RecordUpdate(d, {"dealname": f"kam {d}"}) for d in deals]
    updates[37] = RecordUpdate(deals[37], {"dealtype": "no_such_type"})
    sandbox.reset_stats()
    results = connector.push("deals", updates)
    assert [r.record_id for r in results if not r.ok] == [deals[37]]
    assert results[37].error_code == "VALIDATION_ERROR" and not results[37].retriable
    # The refused batch of 100, then two halves per level: 50, 25, 13, 6, 3, then the record.
    assert requests_of(sandbox, "write") == 1 + 2 * 6
    assert sandbox.stats()["records_written"] == 99
