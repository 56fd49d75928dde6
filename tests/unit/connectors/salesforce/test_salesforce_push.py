"""Write-back through sObject Collections and Bulk API 2.0, with per-record results."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import responses
from sf_fakes import API, SleepRecorder, describes, token_ok

from kam_sync.errors import FatalApiError, QuotaExhaustedError
from kam_sync_connectors.base import NOT_SENT, PushStoppedError, RecordUpdate
from kam_sync_connectors.salesforce.connector import SalesforceConnector, connect
from kam_sync_connectors.salesforce.settings import SalesforceSettings

TARGETS = ("KAM_Tier__c", "KAM_Score__c", "KAM_Flags__c", "KAM_Last_Assessed__c", "KAM_Formula__c")
COLLECTIONS = f"{API}/composite/sobjects"


def rid(n: int) -> str:
    return f"001{n:015d}"


@pytest.fixture
def connector(environ: dict[str, str], sleeps: SleepRecorder) -> Callable[..., SalesforceConnector]:
    def make(**settings: Any) -> SalesforceConnector:
        sf = connect(SalesforceSettings(**settings), environ, sleep=sleeps)
        sf.set_write_back_targets("Account", TARGETS)
        return sf

    return make


def echo_success(request: Any) -> tuple[int, dict[str, str], str]:
    records = json.loads(request.body)["records"]
    return 200, {}, json.dumps([{"id": r["id"], "success": True, "errors": []} for r in records])


def bodies(mocked: responses.RequestsMock, url: str) -> list[dict[str, Any]]:
    return [json.loads(c.request.body) for c in mocked.calls if c.request.url == url]


def ingest_job(
    mocked: responses.RequestsMock, job_id: str, *, uploads: tuple[int, ...] = (201,)
) -> str:
    """Mock a Bulk API 2.0 ingest job's create, upload answers (in order) and close; its URL."""
    url = f"{API}/jobs/ingest/{job_id}"
    mocked.post(f"{API}/jobs/ingest", json={"id": job_id, "state": "Open"})
    for status in uploads:
        mocked.put(f"{url}/batches", status=status, body="" if status < 300 else "busy")
    mocked.patch(url, json={"id": job_id, "state": "UploadComplete"})
    return url


def test_updates_go_in_collections_of_200_with_all_or_none_off(
    mocked: responses.RequestsMock, connector: Callable[..., SalesforceConnector]
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.add_callback(responses.PATCH, COLLECTIONS, callback=echo_success)
    updates = [RecordUpdate(rid(n), {"KAM_Tier__c": "Key"}) for n in range(450)]
    sf = connector()

    results = sf.push("Account", updates)

    sent = bodies(mocked, COLLECTIONS)
    assert [len(b["records"]) for b in sent] == [200, 200, 50]
    assert all(b["allOrNone"] is False for b in sent)
    assert sent[0]["records"][0] == {
        "attributes": {"type": "Account"},
        "id": rid(0),
        "KAM_Tier__c": "Key",
    }
    assert [r.record_id for r in results] == [u.record_id for u in updates]
    assert all(r.ok for r in results)
    assert sf.quota().calls_by_kind["write"] == 3


def test_values_are_sent_in_salesforce_form(
    mocked: responses.RequestsMock, connector: Callable[..., SalesforceConnector]
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.add_callback(responses.PATCH, COLLECTIONS, callback=echo_success)
    values = {
        "KAM_Score__c": Decimal("87.25"),
        "KAM_Flags__c": ["Over Cap", "Review Due"],
        "KAM_Last_Assessed__c": datetime(2026, 11, 1, 2, 3, 4, tzinfo=UTC),
        "KAM_Tier__c": None,
    }

    connector().push("Account", [RecordUpdate(rid(1), values)])

    record = bodies(mocked, COLLECTIONS)[0]["records"][0]
    assert record["KAM_Score__c"] == 87.25
    assert record["KAM_Flags__c"] == "Over Cap;Review Due"
    assert record["KAM_Last_Assessed__c"] == "2026-11-01T02:03:04.000Z"
    assert record["KAM_Tier__c"] is None


def test_each_record_gets_its_own_result_and_validation_errors_are_not_retried(
    mocked: responses.RequestsMock,
    connector: Callable[..., SalesforceConnector],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.patch(
        COLLECTIONS,
        json=[
            {"id": rid(1), "success": True, "errors": []},
            {
                "success": False,
                "errors": [
                    {
                        "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                        "message": "Tier needs a reviewer",
                        "fields": ["KAM_Tier__c"],
                    }
                ],
            },
        ],
    )
    updates = [RecordUpdate(rid(n), {"KAM_Tier__c": "Key"}) for n in (1, 2)]

    ok, bad = connector().push("Account", updates)

    assert ok.ok and not bad.ok
    assert bad.error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert bad.message == "Tier needs a reviewer"
    assert bad.fields == ("KAM_Tier__c",)
    assert bad.retriable is False
    assert len(bodies(mocked, COLLECTIONS)) == 1
    assert sleeps.waits == []


@pytest.mark.parametrize(
    ("field", "why"),
    [("Name", "not a write-back target"), ("KAM_Formula__c", "target that is not updateable")],
)
def test_fields_that_are_not_updateable_write_back_targets_are_refused_before_any_request(
    mocked: responses.RequestsMock,
    connector: Callable[..., SalesforceConnector],
    field: str,
    why: str,
) -> None:
    token_ok(mocked)
    describes(mocked)
    sf = connector()

    with pytest.raises(FatalApiError, match=field):
        sf.push("Account", [RecordUpdate(rid(1), {"KAM_Tier__c": "Key", field: 1})])

    assert sf.quota().calls_by_kind.get("write", 0) == 0, why


def test_locked_rows_are_retried_with_back_off_grouped_by_parent_account(
    mocked: responses.RequestsMock,
    connector: Callable[..., SalesforceConnector],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    describes(mocked)
    lock = {"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access"}
    mocked.patch(
        COLLECTIONS,
        json=[
            {"success": False, "errors": [lock]},
            {"id": rid(2), "success": True, "errors": []},
            {"success": False, "errors": [lock]},
            {"success": False, "errors": [lock]},
        ],
    )
    mocked.get(
        f"{API}/query/",
        json={
            "done": True,
            "records": [
                {"Id": rid(1), "ParentId": "001PARENT00000000B"},
                {"Id": rid(3), "ParentId": "001PARENT00000000A"},
                {"Id": rid(4), "ParentId": "001PARENT00000000B"},
            ],
        },
    )
    mocked.add_callback(responses.PATCH, COLLECTIONS, callback=echo_success)
    updates = [RecordUpdate(rid(n), {"KAM_Tier__c": "Key"}) for n in (1, 2, 3, 4)]

    results = connector(lock_retry_wait_seconds=2.0).push("Account", updates)

    assert all(r.ok for r in results)
    retry = bodies(mocked, COLLECTIONS)[1]["records"]
    assert [r["id"] for r in retry] == [rid(3), rid(1), rid(4)]  # parent A, then B's two
    assert sleeps.waits == [2.0]


def test_rows_still_locked_after_every_round_are_reported_retriable(
    mocked: responses.RequestsMock,
    connector: Callable[..., SalesforceConnector],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    describes(mocked)
    lock = {"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access"}
    mocked.patch(COLLECTIONS, json=[{"success": False, "errors": [lock]}])
    mocked.get(f"{API}/query/", json={"done": True, "records": []})

    (result,) = connector(lock_retry_attempts=3, lock_retry_wait_seconds=1.0).push(
        "Account", [RecordUpdate(rid(1), {"KAM_Tier__c": "Key"})]
    )

    assert not result.ok and result.retriable and result.error_code == "UNABLE_TO_LOCK_ROW"
    assert sleeps.waits == [1.0, 2.0, 4.0]
    assert len(bodies(mocked, COLLECTIONS)) == 4


def test_when_the_org_stops_answering_the_unsent_records_are_left_for_the_retry_queue(
    mocked: responses.RequestsMock, connector: Callable[..., SalesforceConnector]
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.add_callback(responses.PATCH, COLLECTIONS, callback=echo_success)
    mocked.patch(COLLECTIONS, status=503, body="down")
    updates = [RecordUpdate(rid(n), {"KAM_Tier__c": "Key"}) for n in range(600)]

    results = connector(retry_max_attempts=2).push("Account", updates)

    assert all(r.ok for r in results[:200])
    assert all(not r.ok and r.retriable for r in results[200:])
    assert len(bodies(mocked, COLLECTIONS)) == 3  # one success, then one request tried twice


def test_above_the_threshold_updates_go_through_one_bulk_ingest_job(
    mocked: responses.RequestsMock,
    connector: Callable[..., SalesforceConnector],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    describes(mocked)
    job = ingest_job(mocked, "750I1")
    mocked.get(job, json={"id": "750I1", "state": "InProgress"})
    mocked.get(job, json={"id": "750I1", "state": "JobComplete"})
    mocked.get(
        f"{job}/successfulResults",
        body=f'"sf__Id","sf__Created",Id,KAM_Score__c,KAM_Tier__c\n{rid(1)},false,{rid(1)},1.5,Key\n',
    )
    mocked.get(
        f"{job}/failedResults",
        body=(
            '"sf__Id","sf__Error",Id,KAM_Score__c,KAM_Tier__c\n'
            f'{rid(3)},"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:bad value: Bogus:--",'
            f"{rid(3)},,Bogus\n"
        ),
    )
    mocked.get(
        f"{job}/unprocessedrecords",
        body=f"Id,KAM_Score__c,KAM_Tier__c\n{rid(2)},#N/A,Key\n",
    )
    updates = [
        RecordUpdate(rid(1), {"KAM_Score__c": Decimal("1.5"), "KAM_Tier__c": "Key"}),
        RecordUpdate(rid(2), {"KAM_Score__c": None, "KAM_Tier__c": "Key"}),
        RecordUpdate(rid(3), {"KAM_Tier__c": "Bogus"}),
    ]
    sf = connector(bulk_write_threshold=2, bulk_poll_interval_seconds=3)

    ok, unprocessed, failed = sf.push("Account", updates)

    upload = next(c for c in mocked.calls if c.request.method == "PUT").request
    rows = list(csv.reader(io.StringIO(upload.body.decode())))
    assert rows == [
        ["Id", "KAM_Score__c", "KAM_Tier__c"],
        [rid(1), "1.5", "Key"],
        [rid(2), "#N/A", "Key"],
        [rid(3), "", "Bogus"],
    ]
    assert upload.headers["Content-Type"] == "text/csv"
    assert ok.ok
    assert not failed.ok and failed.error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert failed.message == "bad value: Bogus" and not failed.retriable
    assert not unprocessed.ok and unprocessed.retriable
    assert sleeps.waits == [3]
    assert sf.quota().calls_by_kind["bulk"] == 8
    assert sf.quota().calls_by_kind["bulk_jobs"] == 1
    assert sf.quota().calls_by_kind.get("write", 0) == 0


def test_a_quota_stop_mid_push_still_reports_what_was_written_and_what_was_not(
    mocked: responses.RequestsMock, connector: Callable[..., SalesforceConnector]
) -> None:
    token_ok(mocked)
    describes(mocked)

    def near_the_line(request: Any) -> tuple[int, dict[str, str], str]:
        body = echo_success(request)[2]
        return 200, {"Sforce-Limit-Info": "api-usage=800/1000"}, body

    mocked.add_callback(responses.PATCH, COLLECTIONS, callback=near_the_line)
    updates = [RecordUpdate(rid(n), {"KAM_Tier__c": "Key"}) for n in range(500)]

    with pytest.raises(PushStoppedError) as caught:
        connector(quota_stop_at_percent=80).push("Account", updates)

    assert caught.value.reason == "quota"
    assert isinstance(caught.value.cause, QuotaExhaustedError)
    results = caught.value.results
    assert [r.record_id for r in results] == [u.record_id for u in updates]
    assert all(r.ok for r in results[:200])
    assert all(not r.ok and r.error_code == NOT_SENT for r in results[200:])
    assert len(bodies(mocked, COLLECTIONS)) == 1


def test_a_push_asked_to_stop_finishes_the_request_in_flight_and_sends_no_more(
    mocked: responses.RequestsMock, connector: Callable[..., SalesforceConnector]
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.add_callback(responses.PATCH, COLLECTIONS, callback=echo_success)
    updates = [RecordUpdate(rid(n), {"KAM_Tier__c": "Key"}) for n in range(500)]
    asked = iter([False, True])

    with pytest.raises(PushStoppedError) as caught:
        connector().push("Account", updates, should_stop=lambda: next(asked, True))

    assert caught.value.reason == "interrupted"
    results = caught.value.results
    assert sum(r.ok for r in results) == 400
    assert all(r.error_code == NOT_SENT for r in results[400:])
    assert len(bodies(mocked, COLLECTIONS)) == 2


def test_a_bulk_job_whose_counts_add_up_does_not_fetch_the_echoed_successful_list(
    mocked: responses.RequestsMock,
    connector: Callable[..., SalesforceConnector],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    describes(mocked)
    job = ingest_job(mocked, "750I2")
    mocked.get(
        job,
        json={
            "id": "750I2",
            "state": "JobComplete",
            "numberRecordsProcessed": 3,
            "numberRecordsFailed": 1,
        },
    )
    mocked.get(
        f"{job}/failedResults",
        body=f'"sf__Id","sf__Error",Id,KAM_Tier__c\n{rid(2)},"STRING_TOO_LONG:too long:--",{rid(2)},Key\n',
    )
    successful = mocked.get(f"{job}/successfulResults", body="")
    updates = [RecordUpdate(rid(n), {"KAM_Tier__c": "Key"}) for n in (1, 2, 3)]

    first, second, third = connector(bulk_write_threshold=2).push("Account", updates)

    assert first.ok and third.ok
    assert not second.ok and second.error_code == "STRING_TOO_LONG"
    assert successful.call_count == 0


def test_a_retried_bulk_upload_sends_the_whole_csv_again(
    mocked: responses.RequestsMock,
    connector: Callable[..., SalesforceConnector],
) -> None:
    token_ok(mocked)
    describes(mocked)
    job = ingest_job(mocked, "750I3", uploads=(503, 201))
    mocked.get(
        job,
        json={
            "id": "750I3",
            "state": "JobComplete",
            "numberRecordsProcessed": 3,
            "numberRecordsFailed": 0,
        },
    )
    mocked.get(f"{job}/failedResults", body='"sf__Id","sf__Error",Id\n')
    updates = [RecordUpdate(rid(n), {"KAM_Tier__c": "Key"}) for n in range(3)]

    results = connector(bulk_write_threshold=2).push("Account", updates)

    uploads = [bytes(c.request.body) for c in mocked.calls if c.request.method == "PUT"]
    expected = "Id,KAM_Tier__c\n" + "".join(f"{rid(n)},Key\n" for n in range(3))
    assert uploads == [expected.encode()] * 2
    assert all(r.ok for r in results)


def test_bulk_csv_chunks_stay_below_the_byte_limit_and_keep_every_row() -> None:
    from kam_sync_connectors.salesforce.bulk import update_csv_chunks

    rows = [{"Id": rid(n), "KAM_Tier__c": "Key", "KAM_Score__c": n} for n in range(100)]
    files = []
    seen: list[list[str]] = []
    for ids, body in update_csv_chunks(rows, ["KAM_Score__c", "KAM_Tier__c"], max_bytes=600):
        text = body.read().decode()
        files.append(body)
        assert len(text.encode()) <= 600
        parsed = list(csv.reader(io.StringIO(text)))
        assert parsed[0] == ["Id", "KAM_Score__c", "KAM_Tier__c"]
        assert [r[0] for r in parsed[1:]] == ids
        seen.append(ids)

    assert len(seen) > 1
    assert [i for ids in seen for i in ids] == [rid(n) for n in range(100)]
    assert all(f.closed for f in files)  # each temporary file is gone once passed on
