"""Bulk API 2.0 jobs: a query job for big first pulls, update jobs for big write-backs.

Job lifecycle (Bulk API 2.0 Developer Guide): a query job is created ``UploadComplete`` and runs
to ``JobComplete``; its CSV results are read in pages with ``maxRecords`` and the
``Sforce-Locator`` response header (the literal string ``null`` on the last page). An ingest job
is created ``Open``, takes one CSV upload (``PUT .../batches``, at most 100 MB), is closed with
``state: UploadComplete`` and runs to ``JobComplete``; ``Failed`` and ``Aborted`` are final too.
Per-record outcomes come from ``successfulResults`` (``sf__Id``, ``sf__Created``, the uploaded
columns), ``failedResults`` (``sf__Id``, ``sf__Error`` as ``CODE:message:fields``, the uploaded
columns) and ``unprocessedrecords``; their order is not the upload order, so rows are matched on
the uploaded ``Id`` column.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from kam_sync.errors import FatalApiError, RetriableApiError
from kam_sync_connectors.salesforce.client import SalesforceClient
from kam_sync_connectors.salesforce.error_map import CONNECTOR
from kam_sync_connectors.salesforce.wire import csv_cell

log = logging.getLogger(__name__)
JobKind = Literal["query", "ingest"]
# Bulk API 2.0 ingest: "Maximum number of characters in a field: 32,000" (Bulk API 2.0
# Developer Guide, "Limits and Allocations"), below the 32,768 a long text area holds.
BULK_MAX_FIELD_CHARS = 32_000
FINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What a bulk ingest job did with one uploaded row."""

    ok: bool
    error_code: str | None = None
    message: str | None = None
    processed: bool = True


_SUCCEEDED = RowOutcome(ok=True)  # shared: a 50,000-row job mostly succeeds


def poll_waits(first: float, longest: float) -> Iterator[float]:
    """The waits between job status checks: ``first``, doubling, capped at ``longest``."""
    wait = first
    while True:
        yield min(wait, longest)
        wait = min(max(wait, 0.001) * 2, longest) if longest > 0 else 0.0


def _wait(
    client: SalesforceClient, kind: JobKind, job_id: str, *, failed_ok: bool = False
) -> dict[str, Any]:
    """Poll a job until it is final, backing off between checks (``poll_waits``).

    A ``Failed`` ingest job may have written some rows before it failed; with ``failed_ok``
    its info is returned so that the caller reads the per-row results (Bulk API 2.0 Developer
    Guide, "Get Job Successful Record Results": results are available for failed jobs too).
    """
    settings = client.settings
    waits = poll_waits(settings.bulk_poll_interval_seconds, settings.bulk_poll_max_interval_seconds)
    waited = 0.0
    while True:
        info = client.json_call(f"bulk {kind} job status", "GET", f"jobs/{kind}/{job_id}")
        state = str(info.get("state"))
        if state in FINAL_STATES:
            if state == "Failed" and failed_ok:
                return dict(info)
            if state != "JobComplete":
                raise FatalApiError(
                    f"bulk {kind} job {job_id} ended {state}: {info.get('errorMessage') or ''}",
                    error_code=state,
                    connector=CONNECTOR,
                )
            return dict(info)
        if waited >= settings.bulk_max_wait_seconds:
            raise RetriableApiError(
                f"bulk {kind} job {job_id} still {state} after {waited:g}s; it is left running",
                connector=CONNECTOR,
            )
        wait = next(waits)
        client.sleep(wait)
        waited += max(wait, 0.001)


# -- query -------------------------------------------------------------------------------------


def query_pages(
    client: SalesforceClient, soql: str, *, rows_per_slice: int = 2_000
) -> Iterator[list[dict[str, str]]]:
    """Run a ``queryAll`` job (deleted records included) and yield its CSV rows.

    A result page (up to ``bulk_query_page_records`` rows, one call) is parsed lazily and
    handed on ``rows_per_slice`` rows at a time, so no more than a slice of parsed rows is
    alive at once: the pages of a 250,000-record first pull would otherwise each hold tens of
    thousands of dicts, and the Python heap keeps the high-water mark for the rest of the run.
    """
    job = client.json_call(
        "bulk query create",
        "POST",
        "jobs/query",
        {
            "operation": "queryAll",
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        },
    )
    job_id = str(job["id"])
    client.ledger.job_created()
    _wait(client, "query", job_id)
    locator: str | None = None
    while True:
        params: dict[str, Any] = {"maxRecords": client.settings.bulk_query_page_records}
        if locator:
            params["locator"] = locator
        response = client.raw(
            "bulk query results",
            "GET",
            f"jobs/query/{job_id}/results",
            params=params,
            accept="text/csv",
        )
        response.encoding = "utf-8"
        locator = response.headers.get("Sforce-Locator")
        reader = csv.DictReader(io.StringIO(response.text))
        del response
        while rows := list(itertools.islice(reader, rows_per_slice)):
            yield rows
        if not locator or locator == "null":
            return


# -- ingest ------------------------------------------------------------------------------------


def update_csv_chunks(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    max_bytes: int,
    *,
    max_field_chars: int = BULK_MAX_FIELD_CHARS,
) -> Iterator[tuple[list[str], BinaryIO]]:
    """``(record ids, CSV file)`` chunks, each below ``max_bytes`` (one job each).

    A cell longer than ``max_field_chars`` is cut to that length: Bulk API 2.0 refuses the
    whole row otherwise, though REST would have taken it (long text areas hold 32,768).

    Each chunk is written to a temporary file as its lines are made and uploaded from there:
    a job takes up to 100 MB of CSV, which would otherwise be held in memory while it uploads.
    A file is closed (and gone) when the next chunk is asked for.
    """
    header = _csv_line(["Id", *columns])
    cut = 0
    ids: list[str] = []
    body: BinaryIO = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, chunk by chunk)
    try:
        body.write(header)
        size = len(header)
        for row in rows:
            cells = [row["Id"], *(csv_cell(row.get(c)) if c in row else "" for c in columns)]
            for index, cell in enumerate(cells):
                if len(cell) > max_field_chars:
                    cells[index] = cell[:max_field_chars]
                    cut += 1
            line = _csv_line(cells)
            if ids and size + len(line) > max_bytes:
                body.seek(0)
                yield ids, body
                body.close()
                ids, body = [], tempfile.TemporaryFile()  # noqa: SIM115
                body.write(header)
                size = len(header)
            ids.append(str(row["Id"]))
            body.write(line)
            size += len(line)
        if ids:
            body.seek(0)
            yield ids, body
    finally:
        body.close()
        if cut:
            log.warning(
                "salesforce: %d text values longer than %d characters were cut to that length "
                "for Bulk API 2.0",
                cut,
                max_field_chars,
            )


def _csv_line(cells: Sequence[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().encode()


def parse_sf_error(text: str) -> tuple[str, str]:
    """``(code, message)`` from an ``sf__Error`` cell such as ``UNABLE_TO_LOCK_ROW:msg:--``."""
    code, _, rest = text.partition(":")
    message = rest.rsplit(":", 1)[0] if rest.endswith(":--") else rest
    return code.strip() or "UNKNOWN_EXCEPTION", message.strip()


def run_update_job(
    client: SalesforceClient, object_name: str, ids: Sequence[str], csv_body: bytes | BinaryIO
) -> dict[str, RowOutcome]:
    """One update job for one CSV chunk; the outcome of every uploaded record id."""
    job = client.json_call(
        "bulk ingest create",
        "POST",
        "jobs/ingest",
        {
            "object": object_name,
            "operation": "update",
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        },
    )
    job_id = str(job["id"])
    client.ledger.job_created()
    client.raw(
        "bulk ingest upload",
        "PUT",
        f"jobs/ingest/{job_id}/batches",
        body=csv_body,
        content_type="text/csv",
    )
    client.json_call(
        "bulk ingest close", "PATCH", f"jobs/ingest/{job_id}", {"state": "UploadComplete"}
    )
    info = _wait(client, "ingest", job_id, failed_ok=True)
    processed = int(info.get("numberRecordsProcessed") or 0)
    failed = int(info.get("numberRecordsFailed") or 0)
    job_failed = info.get("state") == "Failed"
    if job_failed and processed == 0:
        # Nothing was processed (e.g. "InvalidBatch : Field name not found"): the upload itself
        # was refused, and sending it again would be refused again.
        raise FatalApiError(
            f"bulk ingest job {job_id} ended Failed: {info.get('errorMessage') or ''}",
            error_code="Failed",
            connector=CONNECTOR,
        )
    outcomes: dict[str, RowOutcome] = {}
    for row in _result_rows(client, job_id, "failedResults"):
        code, message = parse_sf_error(row.get("sf__Error", ""))
        outcomes[row.get("Id") or row.get("sf__Id", "")] = RowOutcome(False, code, message)
    # numberRecordsProcessed counts failed records too. When every uploaded record was
    # processed and every failure is listed, the rest succeeded: the successful-results list
    # (which echoes the whole upload) need not be fetched. A job that ended Failed part-way
    # wrote the rows in its successful results; the others were not processed and are sent
    # again by a later run (UNPROCESSED is retriable).
    if not job_failed and processed == len(ids) and failed == len(outcomes):
        for record_id in ids:
            outcomes.setdefault(record_id, _SUCCEEDED)
        return outcomes
    for row in _result_rows(client, job_id, "successfulResults"):
        outcomes.setdefault(row.get("Id") or row.get("sf__Id", ""), _SUCCEEDED)
    missing = [i for i in ids if i not in outcomes]
    unprocessed = RowOutcome(
        False,
        "UNPROCESSED",
        "the bulk job failed before processing this row"
        if job_failed
        else "the bulk job did not process this row",
        processed=False,
    )
    if missing:
        for row in _result_rows(client, job_id, "unprocessedrecords"):
            outcomes.setdefault(row.get("Id", ""), unprocessed)
    for record_id in ids:
        outcomes.setdefault(
            record_id,
            unprocessed
            if job_failed
            else RowOutcome(
                False, "NO_RESULT", "the bulk job reported nothing for this row", False
            ),
        )
    return outcomes


_RESULT_KEYS = ("Id", "sf__Id", "sf__Error")


def _result_rows(client: SalesforceClient, job_id: str, which: str) -> Iterator[dict[str, str]]:
    """The rows of a result list, keeping only the id and error columns.

    Salesforce echoes every uploaded column in these lists; keeping whole rows of a
    50,000-record job (with long text fields) would cost hundreds of MB for nothing.
    """
    response = client.raw(
        f"bulk ingest {which}", "GET", f"jobs/ingest/{job_id}/{which}", accept="text/csv"
    )
    # Decoded as it is read: the echoed list is as large as the upload.
    text = io.TextIOWrapper(io.BytesIO(response.content), encoding="utf-8", newline="")
    for row in csv.DictReader(text):
        yield {key: row[key] for key in _RESULT_KEYS if key in row}
