"""Bulk API 2.0 ingest jobs (`jobs/ingest`), for `update` (and `insert`).

The lifecycle follows the Bulk API 2.0 guide: create the job (state `Open`), `PUT` CSV to
`batches` (201), `PATCH` state `UploadComplete`; the job then moves to `InProgress` and
`JobComplete` over time, after which `successfulResults` (`sf__Id`, `sf__Created`, ...),
`failedResults` (`sf__Id`, `sf__Error`, ...) and `unprocessedrecords` are served as CSV.
In the CSV an empty value leaves a field unchanged and `#N/A` sets it to null, as
Salesforce documents. The sandbox applies the records when the upload completes and reports
the states by elapsed time (`processing_seconds`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kam_sync.sandbox.faults import FaultInjector
from kam_sync.sandbox.salesforce.errors import NOT_FOUND_MESSAGE, sf_fail
from kam_sync.sandbox.salesforce.rest_records import RecordService, record_fault_error
from kam_sync.sandbox.salesforce.store import SalesforceStore
from kam_sync.sandbox.salesforce.values import RecordError, format_datetime
from kam_sync.sandbox.server import Request, Response, empty_response, json_response, text_response

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^"}
DELIMITERS["BACKQUOTE"] = "`"
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
SUPPORTED_OPERATIONS = ("update", "insert")
# "Maximum number of characters in a field: 32,000" (Bulk API 2.0 Developer Guide, "Limits and
# Allocations"); REST takes a long text area's full 32,768. STRING_TOO_LONG is Salesforce's code
# for a value longer than its field ("STRING_TOO_LONG, <label>: data value too large: <value>
# (max length=N): [<field>]", as public reports quote it: SalesforceLabs/Milestones-PM#32,
# rsoesemann/org-error-inbox#2). What Bulk API 2.0 answers for a CSV cell above 32,000
# characters is not documented (Salesforce's own CSV reader refuses such a cell, "Exceeded max
# field size", forcedotcom/wsc#182): guessed here as that row failing with STRING_TOO_LONG.
# kam-sync never sends one (bulk writes cut texts to 32,000), so the guess decides no behaviour.
BULK_MAX_FIELD_CHARS = 32_000
# A job that fails part-way ("If you receive a message that the API retried more than 10 times,
# use a smaller upload file and try again", same page) keeps what it wrote: the rows before the
# failure are in successfulResults / failedResults, the rest in unprocessedrecords (Bulk API
# 2.0 Developer Guide, "Get Job Unprocessed Record Results").
PARTIAL_FAILURE_MESSAGE = "InternalServerError : Retried more than 10 times"


@dataclass(slots=True)
class IngestJob:
    id: str
    sobject: str
    operation: str
    column_delimiter: str
    line_ending: str
    api_version: str
    created: dt.datetime
    state: str = "Open"
    upload: bytearray = field(default_factory=bytearray)
    completed_at: float | None = None  # monotonic time of UploadComplete
    modstamp: dt.datetime | None = None
    header: list[str] = field(default_factory=list)
    successful: list[tuple[str, list[str]]] = field(default_factory=list)
    failed: list[tuple[str, str, list[str]]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    error_message: str | None = None


class BulkIngestService:
    """Keeps ingest jobs and processes them."""

    def __init__(
        self,
        store: SalesforceStore,
        records: RecordService,
        faults: FaultInjector,
        *,
        processing_seconds: float = 0.2,
        count_written: Any,
    ) -> None:
        self.store = store
        self.records = records
        self.faults = faults
        self.processing_seconds = processing_seconds
        self._count_written = count_written
        self._jobs: dict[str, IngestJob] = {}
        self._lock = threading.Lock()
        # Tests: the next job processes this many rows, then fails (see PARTIAL_FAILURE_MESSAGE).
        self.fail_next_job_after_rows: int | None = None

    # -- state ------------------------------------------------------------------------

    def _state(self, job: IngestJob) -> str:
        if job.state != "UploadComplete" or job.completed_at is None:
            return job.state
        elapsed = time.monotonic() - job.completed_at
        if elapsed >= self.processing_seconds:
            return "JobComplete" if job.error_message is None else "Failed"
        return "InProgress" if elapsed >= self.processing_seconds / 3 else "UploadComplete"

    def _info(self, job: IngestJob) -> dict[str, Any]:
        state = self._state(job)
        finished = state in ("JobComplete", "Failed")
        processed = len(job.successful) + len(job.failed) if finished else 0
        info: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.sobject,
            "createdById": self.store.api_user_id,
            "createdDate": format_datetime(job.created),
            "systemModstamp": format_datetime(job.modstamp or job.created),
            "state": state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(job.api_version),
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{job.api_version}/jobs/ingest/{job.id}/batches",
            "lineEnding": job.line_ending,
            "columnDelimiter": job.column_delimiter,
            "numberRecordsProcessed": processed,
            "numberRecordsFailed": len(job.failed) if finished else 0,
            "retries": 0,
            "totalProcessingTime": int(self.processing_seconds * 1000) if finished else 0,
            "apiActiveProcessingTime": int(self.processing_seconds * 800) if finished else 0,
            "apexProcessingTime": 0,
        }
        if state == "Failed" and job.error_message:
            info["errorMessage"] = job.error_message
        return info

    def _job(self, request: Request) -> IngestJob:
        with self._lock:
            job = self._jobs.get(request.params["job_id"])
        if job is None:
            raise sf_fail(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        return job

    # -- handlers ---------------------------------------------------------------------

    def create(self, request: Request) -> Response:
        """`POST jobs/ingest`."""
        body = request.json()
        if not isinstance(body, dict):
            raise sf_fail(400, "JSON_PARSER_ERROR", "a JSON object is required")
        operation = body.get("operation")
        if operation not in SUPPORTED_OPERATIONS:
            raise sf_fail(
                400,
                "API_ERROR",
                f"the sandbox supports the operations "
                f"{', '.join(SUPPORTED_OPERATIONS)}, got {operation!r}",
            )
        schema = self.store.schema.get(str(body.get("object", "")))
        if schema is None:
            raise sf_fail(
                404, "NOT_FOUND", f"sObject type '{body.get('object')}' is not supported."
            )
        if body.get("contentType", "CSV") != "CSV":
            raise sf_fail(400, "API_ERROR", "contentType must be CSV")
        delimiter = str(body.get("columnDelimiter", "COMMA"))
        line_ending = str(body.get("lineEnding", "LF"))
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise sf_fail(400, "API_ERROR", "invalid columnDelimiter or lineEnding")
        job = IngestJob(
            id=self.store.new_id("BulkJob"),
            sobject=schema.name,
            operation=str(operation),
            column_delimiter=delimiter,
            line_ending=line_ending,
            api_version=request.params.get("version", "59.0"),
            created=self.store.clock(),
        )
        with self._lock:
            self._jobs[job.id] = job
        return json_response(200, self._info(job))

    def get(self, request: Request) -> Response:
        """`GET jobs/ingest/{id}`."""
        return json_response(200, self._info(self._job(request)))

    def upload(self, request: Request) -> Response:
        """`PUT jobs/ingest/{id}/batches`."""
        job = self._job(request)
        if job.state != "Open":
            raise sf_fail(409, "INVALIDJOBSTATE", f"Job {job.id} is not open for uploads")
        job.upload.extend(request.body)
        return empty_response(201)

    def patch(self, request: Request) -> Response:
        """`PATCH jobs/ingest/{id}` with `{"state": "UploadComplete" | "Aborted"}`."""
        job = self._job(request)
        body = request.json()
        state = body.get("state") if isinstance(body, dict) else None
        if state == "UploadComplete":
            if job.state != "Open":
                raise sf_fail(409, "INVALIDJOBSTATE", f"Job {job.id} is not open")
            self._process(job, request.kind)
        elif state == "Aborted":
            if job.state in ("JobComplete", "Failed") or self._state(job) == "JobComplete":
                raise sf_fail(409, "INVALIDJOBSTATE", f"Job {job.id} has finished")
            if job.state == "Open":
                job.unprocessed = self._rows(job)[1]
            job.state = "Aborted"
        else:
            raise sf_fail(400, "INVALIDJOBSTATE", f"cannot set state {state!r}")
        job.modstamp = self.store.clock()
        return json_response(200, self._info(job))

    def delete(self, request: Request) -> Response:
        """`DELETE jobs/ingest/{id}`."""
        job = self._job(request)
        with self._lock:
            self._jobs.pop(job.id, None)
        return empty_response(204)

    def results(self, request: Request) -> Response:
        """`GET jobs/ingest/{id}/successfulResults|failedResults|unprocessedrecords`."""
        job = self._job(request)
        kind = request.params["results"]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if kind == "successfulResults":
            writer.writerow(["sf__Id", "sf__Created", *job.header])
            for record_id, row in job.successful:
                writer.writerow([record_id, "true" if job.operation == "insert" else "false", *row])
        elif kind == "failedResults":
            writer.writerow(["sf__Id", "sf__Error", *job.header])
            for record_id, error, row in job.failed:
                writer.writerow([record_id, error, *row])
        else:
            writer.writerow(self._rows(job)[0] if not job.header else job.header)
            writer.writerows(job.unprocessed)
        return text_response(200, buffer.getvalue(), "text/csv")

    # -- processing -------------------------------------------------------------------

    def _rows(self, job: IngestJob) -> tuple[list[str], list[list[str]]]:
        text = job.upload.decode("utf-8-sig")
        reader = csv.reader(
            io.StringIO(text, newline=""),
            delimiter=DELIMITERS[job.column_delimiter],
        )
        rows = [row for row in reader if row]
        if not rows:
            return [], []
        return rows[0], rows[1:]

    def _process(self, job: IngestJob, kind: str) -> None:
        header, rows = self._rows(job)
        job.header = header
        job.completed_at = time.monotonic()
        job.state = "UploadComplete"
        schema = self.store.schema.get(job.sobject)
        assert schema is not None
        if not header:
            job.error_message = "InvalidBatch : Records not found"
            return
        unknown = [name for name in header if schema.get(name) is None]
        if unknown:
            job.error_message = f"InvalidBatch : Field name not found : {unknown[0]}"
            job.unprocessed = rows
            return
        id_column = next((i for i, n in enumerate(header) if n.lower() == "id"), None)
        if job.operation == "update" and id_column is None:
            job.error_message = "InvalidBatch : Field name not found : Id"
            job.unprocessed = rows
            return
        written = 0
        fail_after, self.fail_next_job_after_rows = self.fail_next_job_after_rows, None
        for number, row in enumerate(rows):
            if fail_after is not None and number >= fail_after:
                job.error_message = PARTIAL_FAILURE_MESSAGE
                job.unprocessed = rows[number:]
                break
            too_long = [
                name
                for name, value in zip(header, row, strict=False)
                if len(value) > BULK_MAX_FIELD_CHARS
            ]
            if too_long:
                record_id = row[id_column] if id_column is not None and id_column < len(row) else ""
                job.failed.append(
                    (
                        record_id,
                        f"STRING_TOO_LONG:{too_long[0]}: data value too large "
                        f"(max length={BULK_MAX_FIELD_CHARS}):{too_long[0]}",
                        row,
                    )
                )
                continue
            values = {
                name: (None if value == "#N/A" else value)
                for name, value in zip(header, row, strict=False)
                if value != "" and name.lower() != "id"
            }
            record_id = row[id_column] if id_column is not None and id_column < len(row) else ""
            try:
                with self.store.lock:
                    if job.operation == "update":
                        record = self.store.check_updatable(schema, record_id)
                        changes = self.store.validate_changes(schema, values)
                        error = record_fault_error(kind, record["Id"], self.faults)
                        if error is not None:
                            raise error
                        self.store.apply_update(schema, record, changes)
                    else:
                        record = self.records.create(schema, values)
                job.successful.append((record["Id"], row))
                written += 1
            except RecordError as exc:
                fields = ",".join(exc.fields)
                job.failed.append((record_id, f"{exc.status_code}:{exc.message}:{fields}", row))
        self._count_written(written)
