"""The conformance suite's per-CRM adapters: how to run each registered connector on the sandbox.

Every test in this folder is parametrized over ``CRMS`` from the connector registry, so a CRM
added there joins the suite, and fails it until it has an adapter here (``ADAPTERS``): how to
start its sandbox, build its connector, which object holds accounts and which field the
suite writes back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from kam_sync.sandbox.runner import SandboxHandle, running_sandbox
from kam_sync_connectors.base import Connector, CustomFieldSpec, Page, PullRequest, RawRecord
from kam_sync_connectors.registry import CRMS

# Fast retries: the suite checks that faults are retried, not how long the waits are.
FAST_RETRIES: dict[str, Any] = {
    "retry_initial_wait_seconds": 0.01,
    "retry_max_wait_seconds": 0.05,
    "retry_max_attempts": 8,
}
# Small write batches, so a push of a small portfolio spans several requests.
WRITE_BATCH = 50
DAILY_API_LIMIT = 10_000


def _short_sleep(seconds: float) -> None:
    time.sleep(min(seconds, 0.02))


@dataclass(frozen=True)
class CrmAdapter:
    """What the suite needs to know of one CRM; everything else goes through the contract."""

    crm: str
    account_object: str
    id_field: str
    modified_field: str
    deleted_field: str
    name_field: str
    tier: CustomFieldSpec  # the write-back field the suite provisions and writes
    tier_value: str
    build: Callable[..., Connector]  # (sandbox, *, session_expires: bool, **settings)
    live_ids: Callable[[SandboxHandle], list[str]]
    stored: Callable[[SandboxHandle, str, str], Any]  # (sandbox, record id, field) -> value
    id_key: Callable[[str], Any]  # how the CRM orders ids
    # Settings under which a failed record is reported at once, not retried
    no_record_retries: dict[str, Any]
    # Settings under which locked records are retried enough to get through a 20% lock rate
    lock_retries: dict[str, Any]
    # The project's crm block and the CLI's environment (secrets) for a sandbox
    project: Callable[[SandboxHandle], tuple[str, dict[str, str]]]

    def sandbox(self, **kwargs: Any) -> AbstractContextManager[SandboxHandle]:
        kwargs.setdefault("daily_api_limit", DAILY_API_LIMIT)
        return running_sandbox(self.crm, **kwargs)  # type: ignore[arg-type]

    def connector(
        self, sandbox: SandboxHandle, *, session_expires: bool = False, **settings: Any
    ) -> Connector:
        connector = self.build(
            sandbox, session_expires=session_expires, **{**FAST_RETRIES, **settings}
        )
        connector.set_write_back_targets(self.account_object, [self.tier.name])
        return connector

    def request(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        page_size: int | None = None,
    ) -> PullRequest:
        return PullRequest(
            object_name=self.account_object,
            fields=(self.name_field,),
            since=since,
            until=until or datetime.now(UTC),
            id_field=self.id_field,
            modified_field=self.modified_field,
            deleted_field=self.deleted_field,
            page_size=page_size,
        )

    def modified(self, record: RawRecord) -> datetime:
        return as_datetime(record[self.modified_field])


def as_datetime(value: Any) -> datetime:
    """A record's modification stamp as the CRM's JSON holds it, as an aware datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(value / 1000, UTC)
    else:
        text = str(value).replace("Z", "+00:00")
        if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # +0000
            text = text[:-2] + ":" + text[-2:]
        moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, f"modification stamp without a time zone: {value!r}"
    return moment.astimezone(UTC)


def write_requests(sandbox: SandboxHandle) -> int:
    """Write calls the sandbox served (record writes, collections, batch updates)."""
    return sum(sandbox.stats()["requests"].get("write", {}).values())


def records(pages: Iterator[Page] | list[Page]) -> list[RawRecord]:
    return [record for page in pages for record in page.records]


# -- Salesforce --------------------------------------------------------------------------------


def _salesforce(sandbox: SandboxHandle, *, session_expires: bool, **settings: Any) -> Connector:
    from kam_sync_connectors.salesforce import SalesforceSettings, connect

    del session_expires  # every Salesforce session expires
    creds = sandbox.credentials
    environ = {
        "KAM_SYNC_SF_CLIENT_ID": creds["client_id"],
        "KAM_SYNC_SF_CLIENT_SECRET": creds["client_secret"],
    }
    settings = {
        "login_url": sandbox.base_url,
        "auth": "client_credentials",
        "ca_bundle": sandbox.ca_cert_path,
        "write_batch_size": WRITE_BATCH,
        "bulk_poll_interval_seconds": 0.05,
        "lock_retry_wait_seconds": 0.01,
        **settings,
    }
    connector: Connector = connect(SalesforceSettings(**settings), environ, sleep=_short_sleep)
    return connector


def _salesforce_ids(sandbox: SandboxHandle) -> list[str]:
    store = sandbox.app.store
    return sorted(r["Id"] for r in store.records("Account") if not r.get("IsDeleted"))


def _salesforce_stored(sandbox: SandboxHandle, record_id: str, field: str) -> Any:
    return sandbox.app.store.get("Account", record_id).get(field)


def _salesforce_project(sandbox: SandboxHandle) -> tuple[str, dict[str, str]]:
    from kam_sync.cli.demo_cmd import SALESFORCE_DEMO_BLOCK

    block = SALESFORCE_DEMO_BLOCK.format(base_url=sandbox.base_url, ca=sandbox.ca_cert_path)
    env = {
        "KAM_SYNC_SF_CLIENT_ID": sandbox.credentials["client_id"],
        "KAM_SYNC_SF_CLIENT_SECRET": sandbox.credentials["client_secret"],
    }
    return block, env


SALESFORCE = CrmAdapter(
    crm="salesforce",
    account_object="Account",
    id_field="Id",
    modified_field="SystemModstamp",
    deleted_field="IsDeleted",
    name_field="Name",
    tier=CustomFieldSpec(
        "Account",
        "KAM_Tier__c",
        "KAM Tier",
        "picklist",
        values=("Strategic", "Key", "Emerging", "Watchlist", "None"),
    ),
    tier_value="Key",
    build=_salesforce,
    live_ids=_salesforce_ids,
    stored=_salesforce_stored,
    id_key=str,
    no_record_retries={"retry_max_attempts": 1, "lock_retry_attempts": 1},
    lock_retries={"lock_retry_attempts": 8},
    project=_salesforce_project,
)


# -- HubSpot -----------------------------------------------------------------------------------


def _hubspot(sandbox: SandboxHandle, *, session_expires: bool, **settings: Any) -> Connector:
    from kam_sync_connectors.hubspot.connector import connect
    from kam_sync_connectors.hubspot.settings import HubSpotSettings

    creds = sandbox.credentials
    if session_expires:  # private-app tokens never expire; OAuth access tokens do
        environ = {
            "KAM_SYNC_HUBSPOT_CLIENT_ID": creds["client_id"],
            "KAM_SYNC_HUBSPOT_CLIENT_SECRET": creds["client_secret"],
            "KAM_SYNC_HUBSPOT_REFRESH_TOKEN": creds["refresh_token"],
        }
        settings = {"auth": "oauth", **settings}
    else:
        environ = {"KAM_SYNC_HUBSPOT_TOKEN": creds["access_token"]}
    settings = {
        "base_url": sandbox.base_url,
        "ca_bundle": sandbox.ca_cert_path,
        "write_batch_size": WRITE_BATCH,
        **settings,
    }
    return connect(HubSpotSettings(**settings), environ)


def _hubspot_ids(sandbox: SandboxHandle) -> list[str]:
    table = sandbox.app.store.companies
    return [str(i) for i in table.ids if table.records[i].archived_at is None]


def _hubspot_stored(sandbox: SandboxHandle, record_id: str, field: str) -> Any:
    table = sandbox.app.store.companies
    return table.value(table.records[int(record_id)], field)


def _hubspot_project(sandbox: SandboxHandle) -> tuple[str, dict[str, str]]:
    from kam_sync.cli.demo_cmd import HUBSPOT_DEMO_BLOCK

    block = HUBSPOT_DEMO_BLOCK.format(base_url=sandbox.base_url)
    block += f"    daily_limit: {DAILY_API_LIMIT}      # the sandbox's daily allocation\n"
    return block, {"KAM_SYNC_HUBSPOT_TOKEN": sandbox.credentials["access_token"]}


HUBSPOT = CrmAdapter(
    crm="hubspot",
    account_object="companies",
    id_field="hs_object_id",
    modified_field="hs_lastmodifieddate",
    deleted_field="archived",
    name_field="name",
    tier=CustomFieldSpec(
        "companies",
        "kam_tier",
        "KAM tier",
        "picklist",
        values=("strategic", "key", "emerging", "watchlist", "none"),
    ),
    tier_value="key",
    build=_hubspot,
    live_ids=_hubspot_ids,
    stored=_hubspot_stored,
    id_key=int,
    no_record_retries={"retry_max_attempts": 1, "lock_retry_attempts": 0},
    lock_retries={"lock_retry_attempts": 8, "lock_retry_wait_seconds": 0},
    project=_hubspot_project,
)

ADAPTERS: dict[str, CrmAdapter] = {"salesforce": SALESFORCE, "hubspot": HUBSPOT}

# Where a connector breaks the contract today: (test name, CRM) -> the precise reason. Such a
# test is a strict xfail, so it turns red the day the connector is fixed and the entry must go.
KNOWN_BREACHES: dict[tuple[str, str], str] = {}


@pytest.fixture(params=CRMS)
def crm(request: pytest.FixtureRequest) -> CrmAdapter:
    """One registered CRM's adapter; a registered CRM without one fails every test."""
    name = str(request.param)
    if name not in ADAPTERS:
        pytest.fail(f"CRM {name!r} is registered but has no conformance adapter in {__file__}")
    breach = KNOWN_BREACHES.get((request.function.__name__, name))
    if breach is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=breach))
    return ADAPTERS[name]
