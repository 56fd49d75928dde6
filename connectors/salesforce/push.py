"""Write-back: sObject Collections up to ``bulk_write_threshold`` records, Bulk API 2.0 above.

* Only fields declared as write-back targets (``SalesforceConnector.set_write_back_targets``)
  that describe reports updateable may be sent; anything else is refused before any request.
* sObject Collections: ``PATCH composite/sobjects`` with ``allOrNone: false``, at most 200
  records, one SaveResult per record in request order (REST API Developer Guide, "Update Records
  Using sObject Collections"). simple-salesforce has no wrapper for it, so it goes through
  ``restful``.
* ``UNABLE_TO_LOCK_ROW`` records are retried in rounds with back-off. Before a round the failed
  records' parent accounts are read (one query per 200 records) and records of one parent are
  sent together and in order, so a retry does not contend with itself for the parent's lock
  (Salesforce's "Record Locking Cheat Sheet" advice to group child records by parent).
  Validation errors are final.
* A request that still fails after the transport's retries marks its records (and, for a
  transient failure, every record not yet sent) as failed with ``retriable`` set accordingly.
* A quota stop, or ``should_stop`` saying stop between two requests, raises PushStoppedError
  (connectors/base.py) after the request in flight; it carries one result per update, the
  unsent ones marked NOT_SENT, so nothing written goes unrecorded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from simple_salesforce.api import Salesforce

from kam_sync.errors import FatalApiError, QuotaExhaustedError, RetriableApiError
from kam_sync_connectors.base import (
    PushStoppedError,
    RecordUpdate,
    ShouldStop,
    WriteResult,
    not_sent,
)
from kam_sync_connectors.salesforce import bulk, soql
from kam_sync_connectors.salesforce.client import SalesforceClient
from kam_sync_connectors.salesforce.describe import DescribeCache
from kam_sync_connectors.salesforce.error_map import CONNECTOR
from kam_sync_connectors.salesforce.wire import json_value

log = logging.getLogger(__name__)

LOCK_ERROR = "UNABLE_TO_LOCK_ROW"
# UNKNOWN_EXCEPTION is Salesforce's "internal error, try again"; it goes to the retry queue.
RETRIABLE_RECORD_CODES = frozenset(
    {LOCK_ERROR, "UNPROCESSED", "NO_RESULT", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"}
)

INTERRUPTED = "the run was asked to stop"


def _failure(
    update: RecordUpdate,
    code: str | None,
    message: str,
    *,
    retriable: bool,
    fields: Iterable[str] = (),
) -> WriteResult:
    return WriteResult(
        record_id=update.record_id,
        ok=False,
        error_code=code,
        message=message,
        retriable=retriable,
        fields=tuple(fields),
    )


def _patch_collection(body: str, sf: Salesforce) -> Any:
    return sf.restful("composite/sobjects", method="PATCH", data=body)


def _query(query_text: str, sf: Salesforce) -> Any:
    return sf.query(query_text)


class Pusher:
    """Pushes RecordUpdates and returns one WriteResult per update, in order."""

    def __init__(self, client: SalesforceClient, describe: DescribeCache) -> None:
        self._client = client
        self._describe = describe
        self.write_back_targets: dict[str, frozenset[str]] = {}
        self._quota_stop: QuotaExhaustedError | None = None
        self._should_stop: ShouldStop = _never
        self._interrupted = False

    def push(
        self,
        object_name: str,
        updates: Sequence[RecordUpdate],
        *,
        should_stop: ShouldStop | None = None,
    ) -> list[WriteResult]:
        if not updates:
            return []
        self._refuse_non_targets(object_name, updates)
        self._quota_stop = None
        self._should_stop = should_stop or _never
        self._interrupted = False
        settings = self._client.settings
        if len(updates) > settings.bulk_write_threshold:
            results = self._bulk(object_name, updates)
        else:
            results = self._collections(object_name, updates)
        by_id = {u.record_id: u for u in updates}
        for attempt in range(settings.lock_retry_attempts):
            locked = [by_id[r.record_id] for r in results.values() if r.error_code == LOCK_ERROR]
            if not locked or self._stopped():
                break
            wait = settings.lock_retry_wait_seconds * 2**attempt
            log.info("salesforce: %d records locked; retrying in %.1fs", len(locked), wait)
            self._client.sleep(wait)
            try:
                grouped = self._grouped_by_parent(object_name, locked)
            except QuotaExhaustedError as exc:
                self._quota_stop = exc
                break
            results.update(self._collections(object_name, grouped))
        ordered = [results[u.record_id] for u in updates]
        if self._quota_stop is not None:
            raise PushStoppedError("quota", ordered, cause=self._quota_stop)
        if self._interrupted:
            raise PushStoppedError("interrupted", ordered)
        return ordered

    def _stopped(self) -> bool:
        """Stop before the next request? (quota spent, or the run asked to stop)"""
        if self._quota_stop is None and not self._interrupted and self._should_stop():
            self._interrupted = True
        return self._quota_stop is not None or self._interrupted

    def _not_sent(self, unsent: Iterable[RecordUpdate]) -> dict[str, WriteResult]:
        why = str(self._quota_stop) if self._quota_stop is not None else INTERRUPTED
        return {u.record_id: not_sent(u, why) for u in unsent}

    def _stop_for_quota(
        self, exc: QuotaExhaustedError, unsent: Iterable[RecordUpdate]
    ) -> dict[str, WriteResult]:
        self._quota_stop = exc
        return self._not_sent(unsent)

    # -- guard ---------------------------------------------------------------------------------

    def _refuse_non_targets(self, object_name: str, updates: Sequence[RecordUpdate]) -> None:
        targets = self.write_back_targets.get(object_name, frozenset())
        sent = {name for u in updates for name in u.values}
        refused = sorted(sent - targets)
        schema = self._describe.schema(object_name)
        for name in sorted(sent & targets):
            described = schema.field(name)
            if described is None or not described.updateable:
                refused.append(name)
        if refused:
            raise FatalApiError(
                f"refusing to write {object_name} fields that are not updateable write-back "
                f"targets of the mapping: {', '.join(refused)}",
                error_code="KAM_NOT_A_WRITE_BACK_TARGET",
                connector=CONNECTOR,
            )

    # -- sObject Collections -------------------------------------------------------------------

    def _collections(
        self, object_name: str, updates: Sequence[RecordUpdate]
    ) -> dict[str, WriteResult]:
        size = self._client.settings.write_batch_size
        results: dict[str, WriteResult] = {}
        for start in range(0, len(updates), size):
            if start and self._stopped():
                results.update(self._not_sent(updates[start:]))
                return results
            chunk = updates[start : start + size]
            payload = {
                "allOrNone": False,
                "records": [
                    {
                        "attributes": {"type": object_name},
                        "id": u.record_id,
                        **{k: json_value(v) for k, v in u.values.items()},
                    }
                    for u in chunk
                ],
            }
            try:
                saved = self._client.call(
                    f"write {object_name}", partial(_patch_collection, json.dumps(payload))
                )
            except QuotaExhaustedError as exc:
                results.update(self._stop_for_quota(exc, updates[start:]))
                return results
            except RetriableApiError as exc:
                # The org is not answering; leave the rest for the retry queue.
                for u in updates[start:]:
                    results[u.record_id] = _failure(
                        u, exc.error_code or "TRANSIENT", str(exc), retriable=True
                    )
                return results
            except FatalApiError as exc:
                for u in chunk:
                    results[u.record_id] = _failure(u, exc.error_code, str(exc), retriable=False)
                continue
            for update, outcome in zip(chunk, saved or (), strict=False):
                results[update.record_id] = self._save_result(update, outcome)
            for update in chunk[len(saved or ()) :]:
                results[update.record_id] = _failure(
                    update, "NO_RESULT", "Salesforce returned no result", retriable=True
                )
        return results

    @staticmethod
    def _save_result(update: RecordUpdate, outcome: Mapping[str, Any]) -> WriteResult:
        if outcome.get("success"):
            return WriteResult(update.record_id, ok=True, fields=tuple(update.values))
        errors = outcome.get("errors") or [{}]
        first = errors[0]
        code = str(first.get("statusCode") or "UNKNOWN_EXCEPTION")
        message = "; ".join(str(e.get("message", "")) for e in errors)
        fields = [str(f) for e in errors for f in e.get("fields") or ()]
        return _failure(
            update, code, message, retriable=code in RETRIABLE_RECORD_CODES, fields=fields
        )

    # -- lock retries --------------------------------------------------------------------------

    def _grouped_by_parent(
        self, object_name: str, updates: Sequence[RecordUpdate]
    ) -> list[RecordUpdate]:
        parent_field = self._client.settings.lock_parent_fields.get(object_name)
        parents: dict[str, str] = {}
        schema = self._describe.schema(object_name)
        if parent_field and schema.field(parent_field) is not None:
            ids = [u.record_id for u in updates]
            for start in range(0, len(ids), soql.IDS_PER_QUERY):
                query_text = soql.ids_query(
                    object_name, [parent_field], ids[start : start + soql.IDS_PER_QUERY]
                )
                result = self._client.call(
                    f"query {object_name} parents", partial(_query, query_text)
                )
                for row in result.get("records") or ():
                    if row.get(parent_field):
                        parents[str(row["Id"])] = str(row[parent_field])
        return sorted(updates, key=lambda u: (parents.get(u.record_id, u.record_id), u.record_id))

    # -- Bulk API 2.0 --------------------------------------------------------------------------

    def _bulk(self, object_name: str, updates: Sequence[RecordUpdate]) -> dict[str, WriteResult]:
        columns = sorted({name for u in updates for name in u.values})
        rows = ({"Id": u.record_id, **u.values} for u in updates)  # made one at a time
        by_id = {u.record_id: u for u in updates}
        results: dict[str, WriteResult] = {}
        settings = self._client.settings
        chunks = bulk.update_csv_chunks(
            rows,
            columns,
            settings.bulk_max_upload_bytes,
            max_field_chars=settings.bulk_max_field_chars,
        )
        for ids, csv_body in chunks:
            if results and self._stopped():
                results.update(self._not_sent(by_id[i] for i in ids))
                continue
            try:
                outcomes = bulk.run_update_job(self._client, object_name, ids, csv_body)
            except QuotaExhaustedError as exc:
                results.update(self._stop_for_quota(exc, (by_id[i] for i in ids)))
                continue
            except (RetriableApiError, FatalApiError) as exc:
                retriable = isinstance(exc, RetriableApiError)
                for record_id in ids:
                    results[record_id] = _failure(
                        by_id[record_id],
                        exc.error_code or "BULK_JOB",
                        str(exc),
                        retriable=retriable,
                    )
                continue
            for record_id in ids:
                outcome = outcomes[record_id]
                update = by_id[record_id]
                if outcome.ok:
                    results[record_id] = WriteResult(
                        record_id, ok=True, fields=tuple(update.values)
                    )
                else:
                    code = outcome.error_code or "UNKNOWN_EXCEPTION"
                    results[record_id] = _failure(
                        update,
                        code,
                        outcome.message or "",
                        retriable=code in RETRIABLE_RECORD_CODES,
                    )
        return results


def _never() -> bool:
    return False
