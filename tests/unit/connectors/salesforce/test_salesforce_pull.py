"""Pulling pages: queryAll, nextRecordsUrl paging, look-back, restarts and Bulk API 2.0."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from sf_fakes import API, INSTANCE, describes, token_ok

from kam_sync.errors import FatalApiError
from kam_sync_connectors.base import PullRequest
from kam_sync_connectors.salesforce.connector import SalesforceConnector, connect
from kam_sync_connectors.salesforce.settings import SalesforceSettings

UNTIL = datetime(2026, 11, 2, tzinfo=UTC)
SINCE = datetime(2026, 10, 1, tzinfo=UTC)


def account(n: int, stamp: str, **extra: Any) -> dict[str, Any]:
    return {
        "attributes": {"type": "Account", "url": f"/services/data/v62.0/sobjects/Account/{n}"},
        "Id": f"001{n:015d}",
        "SystemModstamp": stamp,
        "IsDeleted": False,
        "Name": f"Account {n}",
        **extra,
    }


@pytest.fixture
def connector(
    environ: dict[str, str], sleeps: Callable[[float], None]
) -> Callable[..., SalesforceConnector]:
    def make(**settings: Any) -> SalesforceConnector:
        return connect(SalesforceSettings(**settings), environ, sleep=sleeps)

    return make


def request(*fields: str, since: datetime | None = None) -> PullRequest:
    return PullRequest(
        object_name="Account",
        fields=fields,
        since=since,
        until=UNTIL,
        id_field="Id",
        modified_field="SystemModstamp",
        deleted_field="IsDeleted",
    )


def soql_of(call: responses.Call) -> str:
    return parse_qs(urlsplit(call.request.url).query)["q"][0]


def test_pages_follow_next_records_url_and_flatten_relationships_and_team_roles(
    mocked: responses.RequestsMock, connector: Callable[..., SalesforceConnector]
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.get(
        f"{API}/queryAll/",
        json={
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": "/services/data/v62.0/query/01gXX-2000",
            "records": [
                account(
                    1,
                    "2026-11-01T10:00:00.000+0000",
                    Owner={"attributes": {"type": "User"}, "Name": "Ada"},
                    AnnualRevenue=1250000.35,
                    AccountTeamMembers={
                        "totalSize": 2,
                        "done": True,
                        "records": [
                            {"attributes": {}, "TeamMemberRole": "Technical Expert"},
                            {"attributes": {}, "TeamMemberRole": "Innovator"},
                        ],
                    },
                ),
                account(2, "2026-11-01T11:00:00.000+0000", Owner=None, AccountTeamMembers=None),
            ],
        },
    )
    mocked.get(
        f"{INSTANCE}/services/data/v62.0/query/01gXX-2000",
        json={
            "totalSize": 3,
            "done": True,
            "records": [
                account(3, "2026-11-01T12:30:00.000+0000", Owner=None, AccountTeamMembers=None)
            ],
        },
    )
    sf = connector(query_batch_size=500)

    pages = list(
        sf.pull(request("Name", "AnnualRevenue", "Owner.Name", "@AccountTeamMember.TeamMemberRole"))
    )

    assert [len(p.records) for p in pages] == [2, 1]
    assert [p.expected_total for p in pages] == [3, None]  # the progress bar's total
    first = pages[0].records[0]
    assert first["Owner.Name"] == "Ada"
    assert first["AnnualRevenue"] == Decimal("1250000.35")  # exact, never a float
    assert first["@AccountTeamMember.TeamMemberRole"] == ["Technical Expert", "Innovator"]
    assert pages[0].records[1]["Owner.Name"] is None
    assert pages[0].records[1]["@AccountTeamMember.TeamMemberRole"] == []
    assert pages[0].high_watermark == datetime(2026, 11, 1, 11, tzinfo=UTC)
    assert pages[1].high_watermark == datetime(2026, 11, 1, 12, 30, tzinfo=UTC)
    queries = [c for c in mocked.calls if "/query" in c.request.url]
    assert all(c.request.headers["Sforce-Query-Options"] == "batchSize=500" for c in queries)
    assert all("X-PrettyPrint" not in c.request.headers for c in queries)
    assert "SystemModstamp >=" not in soql_of(queries[0])  # a full pull
    assert sf.quota().calls_by_kind == {"auth": 1, "describe": 3, "query": 2}


def test_incremental_pull_starts_the_look_back_window_before_the_watermark(
    mocked: responses.RequestsMock, connector: Callable[..., SalesforceConnector]
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.get(f"{API}/queryAll/", json={"totalSize": 0, "done": True, "records": []})
    sf = connector(look_back_minutes=15)

    pages = list(sf.pull(request("Name", since=datetime(2026, 11, 1, 10, 0, tzinfo=UTC))))

    assert [p.records for p in pages] == [[]]
    query = soql_of(mocked.calls[-1])
    assert "SystemModstamp >= 2026-11-01T09:45:00Z" in query
    assert "SystemModstamp <= 2026-11-02T00:00:00Z" in query


def test_an_expired_query_locator_restarts_from_the_last_stamp_without_duplicates(
    mocked: responses.RequestsMock, connector: Callable[..., SalesforceConnector]
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.get(
        f"{API}/queryAll/",
        json={
            "done": False,
            "nextRecordsUrl": "/services/data/v62.0/query/01gXX-2",
            "records": [
                account(1, "2026-11-01T10:00:00.000+0000"),
                account(2, "2026-11-01T11:00:00.000+0000"),
            ],
        },
    )
    mocked.get(
        f"{INSTANCE}/services/data/v62.0/query/01gXX-2",
        status=400,
        json=[{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}],
    )
    mocked.get(
        f"{API}/queryAll/",
        json={
            "done": True,
            "records": [
                account(2, "2026-11-01T11:00:00.000+0000"),
                account(4, "2026-11-01T11:00:00.000+0000"),
                account(3, "2026-11-01T12:00:00.000+0000"),
            ],
        },
    )
    sf = connector(id_reconciliation_days=0)  # SINCE is a month back: one would be due

    pages = list(sf.pull(request("Name", since=SINCE)))

    ids = [r["Id"][-1] for p in pages for r in p.records]
    assert ids == ["1", "2", "4", "3"]
    restart = soql_of([c for c in mocked.calls if "/queryAll/" in c.request.url][-1])
    assert "SystemModstamp >= 2026-11-01T11:00:00Z" in restart


def test_a_session_expiring_mid_pull_is_renewed_and_the_page_fetched_again(
    mocked: responses.RequestsMock, connector: Callable[..., SalesforceConnector]
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.get(
        f"{API}/queryAll/",
        json={
            "done": False,
            "nextRecordsUrl": "/services/data/v62.0/query/01gXX-2",
            "records": [account(1, "2026-11-01T10:00:00.000+0000")],
        },
    )
    next_page = f"{INSTANCE}/services/data/v62.0/query/01gXX-2"
    mocked.get(
        next_page,
        status=401,
        json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    )
    mocked.get(
        next_page, json={"done": True, "records": [account(2, "2026-11-01T11:00:00.000+0000")]}
    )
    sf = connector(id_reconciliation_days=0)  # SINCE is a month back: one would be due

    records = [r for p in sf.pull(request("Name", since=SINCE)) for r in p.records]

    assert len(records) == 2
    assert sf.quota().calls_by_kind["auth"] == 2
    assert sf.quota().calls_by_kind["query"] == 3


def test_a_big_first_pull_runs_as_one_bulk_query_job_with_typed_values(
    mocked: responses.RequestsMock, connector: Callable[..., SalesforceConnector]
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.get(f"{API}/queryAll/", json={"totalSize": 60_000, "done": True, "records": []})
    mocked.post(f"{API}/jobs/query", json={"id": "750Q1", "state": "UploadComplete"})
    mocked.get(f"{API}/jobs/query/750Q1", json={"id": "750Q1", "state": "InProgress"})
    mocked.get(f"{API}/jobs/query/750Q1", json={"id": "750Q1", "state": "JobComplete"})
    header = "Id,SystemModstamp,IsDeleted,Name,AnnualRevenue,NumberOfEmployees\n"
    mocked.get(
        f"{API}/jobs/query/750Q1/results",
        body=header + '001A,2026-11-01T12:00:00.000Z,false,"Acme, Inc.",1250000.50,40\n',
        headers={"Sforce-Locator": "MTAwMDA", "Sforce-NumberOfRecords": "1"},
        content_type="text/csv",
    )
    mocked.get(
        f"{API}/jobs/query/750Q1/results",
        body=header + "001B,2026-11-01T09:00:00.000Z,true,Beta,,\n",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
        content_type="text/csv",
    )
    sf = connector(bulk_query_threshold=50_000, bulk_poll_interval_seconds=5)

    pages = list(sf.pull(request("Name", "AnnualRevenue", "NumberOfEmployees")))

    assert [r["Id"] for p in pages for r in p.records] == ["001A", "001B"]
    first, second = pages[0].records[0], pages[1].records[0]
    assert first["Name"] == "Acme, Inc."
    assert first["AnnualRevenue"] == Decimal("1250000.50")
    assert first["NumberOfEmployees"] == 40
    assert first["IsDeleted"] is False and second["IsDeleted"] is True
    assert second["AnnualRevenue"] is None
    # Bulk results are unordered: only an empty page after the last rows moves the watermark,
    # to the highest stamp.
    assert [len(p.records) for p in pages] == [1, 1, 0]
    assert pages[0].high_watermark is None and pages[1].high_watermark is None
    assert pages[2].high_watermark == datetime(2026, 11, 1, 12, tzinfo=UTC)
    created = [c for c in mocked.calls if c.request.method == "POST" and "jobs" in c.request.url]
    assert '"operation": "queryAll"' in str(created[0].request.body)
    results = [c for c in mocked.calls if c.request.url.split("?")[0].endswith("/results")]
    assert "locator=MTAwMDA" in results[1].request.url
    assert sf.quota().calls_by_kind["bulk"] == 5
    assert sf.quota().calls_by_kind["bulk_jobs"] == 1


def test_a_query_locator_that_keeps_expiring_without_progress_is_not_restarted_forever(
    mocked: responses.RequestsMock, connector: Callable[..., SalesforceConnector]
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.get(
        f"{API}/queryAll/",
        json={
            "done": False,
            "nextRecordsUrl": "/services/data/v62.0/query/01gXX-2",
            "records": [account(1, "2026-11-01T10:00:00.000+0000")],
        },
    )
    mocked.get(
        f"{INSTANCE}/services/data/v62.0/query/01gXX-2",
        status=400,
        json=[{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}],
    )
    sf = connector()

    with pytest.raises(FatalApiError, match="INVALID_QUERY_LOCATOR"):
        list(sf.pull(request("Name", since=SINCE)))

    assert sf.quota().calls_by_kind["query"] == 4  # first try, one restart, then give up
