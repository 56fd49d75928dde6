"""Bulk API 2.0 query jobs (`jobs/query`): SOQL run as a job, results as paged CSV.

As the Bulk API 2.0 guide describes: `POST jobs/query` with `operation` `query` or
`queryAll`; the job moves `UploadComplete` -> `InProgress` -> `JobComplete` over time;
`GET jobs/query/{id}/results?maxRecords=N&locator=L` returns CSV with the
`Sforce-NumberOfRecords` header and `Sforce-Locator` naming the next page (the string
`null` on the last one). Nulls are empty cells, datetimes `2026-11-01T09:30:00.000Z`.
The sandbox runs the query when the job is created (a snapshot) and releases it by time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kam_sync.sandbox.salesforce.errors import NOT_FOUND_MESSAGE, sf_fail
from kam_sync.sandbox.salesforce.query import QueryCompiler
from kam_sync.sandbox.salesforce.query_exec import SortedViews, run_query
from kam_sync.sandbox.salesforce.soql import SoqlError, parse_soql
from kam_sync.sandbox.salesforce.store import SalesforceStore
from kam_sync.sandbox.salesforce.values import format_datetime
from kam_sync.sandbox.server import Request, Response, empty_response, json_response, text_response

DEFAULT_MAX_RECORDS = 50_000  # simple-salesforce's default page; Salesforce picks its own
# Bulk API 2.0 splits large query jobs by primary key ("PK chunking"; Bulk API 2.0 Developer
# Guide, "Understanding Bulk API 2.0 Query": chunks of 100,000 to 250,000 records). "Use of
# ORDER BY in a Bulk 2.0 query disables PKChunking for the query ... and potentially results
# in query timeouts" ("Troubleshooting Query Timeouts"). The sandbox fails such a job when it
# matches more records than one chunk, the point where a real org starts to chunk.
PK_CHUNK_SIZE = 250_000
QUERY_TIMEOUT_MESSAGE = "QUERY_TIMEOUT: Your query request was running for too long."
_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^"}
_DELIMITERS["BACKQUOTE"] = "`"
_LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


def csv_cell(value: Any) -> str:
    """A stored value as a Bulk API 2.0 CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return format_datetime(value).replace("+0000", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value)
    return str(value)


@dataclass(slots=True)
class QueryJob:
    id: str
    operation: str
    sobject: str
    query: str
    api_version: str
    created: dt.datetime
    column_delimiter: str
    line_ending: str
    header: list[str]
    rows: list[list[str]]
    started: float = field(default_factory=time.monotonic)
    aborted: bool = False
    error_message: str | None = None  # set: the job ends Failed


class BulkQueryService:
    """Keeps query jobs and serves their results."""

    def __init__(
        self,
        store: SalesforceStore,
        compiler: QueryCompiler,
        views: SortedViews,
        *,
        processing_seconds: float = 0.2,
        count_read: Callable[[int], None],
        pk_chunk_size: int = PK_CHUNK_SIZE,
    ) -> None:
        self.store = store
        self.compiler = compiler
        self.views = views
        self.processing_seconds = processing_seconds
        self.pk_chunk_size = pk_chunk_size  # tests lower it to fail ORDER BY on small tables
        self.created_queries: list[str] = []  # every job's SOQL, for tests
        self._count_read = count_read
        self._jobs: dict[str, QueryJob] = {}
        self._lock = threading.Lock()

    def _state(self, job: QueryJob) -> str:
        if job.aborted:
            return "Aborted"
        elapsed = time.monotonic() - job.started
        if elapsed >= self.processing_seconds:
            return "JobComplete" if job.error_message is None else "Failed"
        return "InProgress" if elapsed >= self.processing_seconds / 3 else "UploadComplete"

    def _info(self, job: QueryJob) -> dict[str, Any]:
        state = self._state(job)
        done = state == "JobComplete"
        extra = {"errorMessage": job.error_message} if state == "Failed" else {}
        return {
            "id": job.id,
            "operation": job.operation,
            "object": job.sobject,
            "createdById": self.store.api_user_id,
            "createdDate": format_datetime(job.created),
            "systemModstamp": format_datetime(job.created),
            "state": state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(job.api_version),
            "jobType": "V2Query",
            "lineEnding": job.line_ending,
            "columnDelimiter": job.column_delimiter,
            "numberRecordsProcessed": len(job.rows) if done else 0,
            "retries": 0,
            "totalProcessingTime": int(self.processing_seconds * 1000) if done else 0,
            **extra,
        }

    def _job(self, request: Request) -> QueryJob:
        with self._lock:
            job = self._jobs.get(request.params["job_id"])
        if job is None:
            raise sf_fail(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        return job

    def create(self, request: Request) -> Response:
        """`POST jobs/query`."""
        body = request.json()
        if not isinstance(body, dict):
            raise sf_fail(400, "JSON_PARSER_ERROR", "a JSON object is required")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise sf_fail(
                400, "INVALIDJOB", f"operation must be query or queryAll, got {operation!r}"
            )
        delimiter = str(body.get("columnDelimiter", "COMMA"))
        line_ending = str(body.get("lineEnding", "LF"))
        if delimiter not in _DELIMITERS or line_ending not in _LINE_ENDINGS:
            raise sf_fail(400, "INVALIDJOB", "invalid columnDelimiter or lineEnding")
        text = str(body.get("query") or "")
        try:
            parsed = parse_soql(text)
            if parsed.count_only:
                raise sf_fail(400, "INVALIDJOB", "Aggregate queries are not supported")
            if parsed.subqueries:
                # Bulk API 2.0 does not run parent-to-child relationship queries.
                raise sf_fail(
                    400,
                    "INVALIDJOB",
                    "Parent-to-child relationship queries are not supported by Bulk API 2.0",
                )
            compiled = self.compiler.compile(parsed)
            columns = [
                (path.text, self.compiler.resolve(parsed, compiled.schema, path, tooling=False))
                for path in parsed.fields
            ]
        except SoqlError as exc:
            # Guess: Bulk API 2.0 reports SOQL errors at job creation with the same codes.
            raise sf_fail(400, exc.code, exc.message) from None
        with self.store.lock:
            records = run_query(compiled, self.views, include_deleted=operation == "queryAll")
            rows = [[csv_cell(resolved.getter(r)) for _, resolved in columns] for r in records]
        error_message = None
        if parsed.order_by and len(records) > self.pk_chunk_size:
            error_message, rows = QUERY_TIMEOUT_MESSAGE, []
        self.created_queries.append(text)
        job = QueryJob(
            id=self.store.new_id("BulkJob"),
            operation=str(operation),
            sobject=compiled.schema.name,
            query=text,
            api_version=request.params.get("version", "59.0"),
            created=self.store.clock(),
            column_delimiter=delimiter,
            line_ending=line_ending,
            header=[name for name, _ in columns],
            rows=rows,
            error_message=error_message,
        )
        with self._lock:
            self._jobs[job.id] = job
        return json_response(200, self._info(job))

    def get(self, request: Request) -> Response:
        """`GET jobs/query/{id}`."""
        return json_response(200, self._info(self._job(request)))

    def patch(self, request: Request) -> Response:
        """`PATCH jobs/query/{id}` with `{"state": "Aborted"}`."""
        job = self._job(request)
        body = request.json()
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise sf_fail(400, "INVALIDJOBSTATE", "only state Aborted can be set")
        if self._state(job) == "JobComplete":
            raise sf_fail(409, "INVALIDJOBSTATE", f"Job {job.id} has finished")
        job.aborted = True
        return json_response(200, self._info(job))

    def delete(self, request: Request) -> Response:
        """`DELETE jobs/query/{id}`."""
        job = self._job(request)
        with self._lock:
            self._jobs.pop(job.id, None)
        return empty_response(204)

    def results(self, request: Request) -> Response:
        """`GET jobs/query/{id}/results`: one page of CSV."""
        job = self._job(request)
        if self._state(job) != "JobComplete":
            raise sf_fail(400, "API_ERROR", f"Job {job.id} is not complete")
        try:
            max_records = int(request.query_one("maxRecords") or DEFAULT_MAX_RECORDS)
            start = int(request.query_one("locator") or 0)
        except ValueError:
            raise sf_fail(400, "INVALIDLOCATOR", "invalid locator or maxRecords") from None
        if max_records <= 0 or start < 0 or start > len(job.rows):
            raise sf_fail(400, "INVALIDLOCATOR", "invalid locator or maxRecords")
        end = min(len(job.rows), start + max_records)
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=_DELIMITERS[job.column_delimiter],
            lineterminator=_LINE_ENDINGS[job.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(job.header)
        writer.writerows(job.rows[start:end])
        self._count_read(end - start)
        # The locator is opaque to clients; the sandbox uses the next row's offset.
        headers = {
            "Sforce-NumberOfRecords": str(end - start),
            "Sforce-Locator": str(end) if end < len(job.rows) else "null",
        }
        return text_response(200, buffer.getvalue(), "text/csv", headers)
