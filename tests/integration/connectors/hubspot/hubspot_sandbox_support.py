"""Helpers for the HubSpot connector's tests against the sandbox CRM (real SDK, real HTTP)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from kam_sync.sandbox.runner import SandboxHandle
from kam_sync_connectors.base import Page, PullRequest
from kam_sync_connectors.hubspot.connector import HubSpotConnector
from kam_sync_connectors.hubspot.settings import HubSpotSettings


class FakeTime:
    """A clock that moves only when something sleeps: 429 waits cost no wall time."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def private_app(
    sandbox: SandboxHandle,
    *,
    fake_time: FakeTime | None = None,
    **settings: Any,
) -> HubSpotConnector:
    """A connector with the sandbox's private-app token."""
    env = {"KAM_SYNC_HUBSPOT_TOKEN": sandbox.credentials["access_token"]}
    return _connector(sandbox, env, fake_time, settings)


def oauth_app(sandbox: SandboxHandle, **settings: Any) -> HubSpotConnector:
    """A connector with the sandbox's OAuth client and refresh token (no access token yet)."""
    creds = sandbox.credentials
    env = {
        "KAM_SYNC_HUBSPOT_CLIENT_ID": creds["client_id"],
        "KAM_SYNC_HUBSPOT_CLIENT_SECRET": creds["client_secret"],
        "KAM_SYNC_HUBSPOT_REFRESH_TOKEN": creds["refresh_token"],
    }
    return _connector(sandbox, env, None, {"auth": "oauth", **settings})


def _connector(
    sandbox: SandboxHandle,
    env: dict[str, str],
    fake_time: FakeTime | None,
    settings: dict[str, Any],
) -> HubSpotConnector:
    # No id listing unless a test asks for one: a window that crosses a weekly boundary (a
    # Thursday, 00:00 UTC) would otherwise add list calls that call counts do not expect.
    settings = {"id_reconciliation_days": 0, **settings}
    hs_settings = HubSpotSettings(base_url=sandbox.base_url, **settings)
    if fake_time is None:
        return HubSpotConnector(hs_settings, env)
    return HubSpotConnector(hs_settings, env, clock=fake_time.clock, sleep=fake_time.sleep)


def pull_request(
    object_name: str,
    fields: tuple[str, ...],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> PullRequest:
    return PullRequest(
        object_name=object_name,
        fields=fields,
        since=since,
        until=until or datetime.now(UTC),
        id_field="hs_object_id",
        modified_field="hs_lastmodifieddate",
        deleted_field="archived",
    )


def records(pages: Iterator[Page] | list[Page]) -> list[dict[str, Any]]:
    return [record for page in pages for record in page.records]


def requests_of(sandbox: SandboxHandle, kind: str, method: str | None = None) -> int:
    """How many requests of an endpoint kind (and method) the sandbox served."""
    by_method: dict[str, int] = sandbox.stats()["requests"].get(kind, {})
    if method is None:
        return sum(by_method.values())
    return by_method.get(method, 0)


def frozen_clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment
