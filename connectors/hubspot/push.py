"""Writing KAM values back: batch update, ``settings.write_batch_size`` (100) records per request.

Before a request is made, each update is checked: every property must be known, writable,
among the allowed write-back targets (when the engine named them), and every enumeration value
must be one of the property's options (HubSpot rejects the *whole* batch with a 400 for one bad
option, so a bad value must never reach it). Each input carries an ``objectWriteTraceId``; the
200/207 answer is matched back through it (results and ``errors``), falling back to record ids.
Per-record failures become ``WriteResult(ok=False)``; a batch that fails as a whole after the
retries yields one failed result per record (retriable when the failure was). A batch refused
with a 400 despite the checks is split in halves until the bad record is alone.

Response shape (developers.hubspot.com/docs/api-reference/latest/crm/objects/companies/batch/
update-companies; changelog "Simplifying batch update response codes for CRM v3 APIs": 200 when
every record was written, 207 when some failed): ``results`` (each with ``id`` and, when the
input carried one, ``objectWriteTraceId``) and ``errors`` (each with ``category``, ``message``
and a ``context`` of string lists, e.g. ``{"ids": [...], "objectWriteTraceId": [...]}``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from decimal import Decimal
from typing import Any

from kam_sync.errors import FatalApiError, QuotaExhaustedError, RetriableApiError
from kam_sync_connectors.base import (
    FieldDescription,
    RecordUpdate,
    ShouldStop,
    WriteResult,
    not_sent,
)
from kam_sync_connectors.hubspot.wire import MULTI_SELECT_SEPARATOR, to_hubspot_value

# HubSpot's limit on a string property value (properties guide: 65,536 characters).
MAX_STRING_LENGTH = 65_536

# HubSpot error categories that may pass if the same record is sent again later.
RETRIABLE_CATEGORIES = frozenset(
    {"RATE_LIMITS", "LOCKED", "CONFLICT", "TIMEOUT", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR"}
)

# Of those, the ones that mean another write holds the record right now: sent again within the
# push, in rounds (``lock_retry_attempts``), as Salesforce's connector does for UNABLE_TO_LOCK_ROW.
# HubSpot answers a record held by a concurrent write with 409 CONFLICT (or 423 LOCKED when a
# large sync holds the portal; developers.hubspot.com/docs/api-reference/error-handling).
LOCK_CATEGORIES = frozenset({"LOCKED", "CONFLICT"})

SendBatch = Callable[[list[dict[str, Any]]], tuple[int, dict[str, Any]]]


def check_update(
    update: RecordUpdate,
    properties: Mapping[str, FieldDescription],
    allowed: frozenset[str] | None,
) -> WriteResult | None:
    """A failed WriteResult if the update must not be sent, else None."""
    for name, value in update.values.items():
        if allowed is not None and name not in allowed:
            return _refused(
                update, "NOT_A_WRITE_BACK_TARGET", f"{name} is not a write-back target", name
            )
        prop = properties.get(name)
        if prop is None:
            return _refused(update, "UNKNOWN_PROPERTY", f"{name} does not exist", name)
        if not prop.updateable:
            return _refused(update, "READ_ONLY_PROPERTY", f"{name} is read-only", name)
        text = to_hubspot_value(value)
        if prop.type == "enumeration" and prop.picklist_values:
            chosen = [v for v in text.split(MULTI_SELECT_SEPARATOR) if v] if text else []
            bad = [v for v in chosen if v not in prop.picklist_values]
            if bad:
                return _refused(
                    update,
                    "INVALID_OPTION",
                    f"{name} has no option {', '.join(repr(b) for b in bad)}",
                    name,
                )
        elif text and not _fits_type(prop.type, text):
            return _refused(
                update, "INVALID_VALUE", f"{name} ({prop.type}) cannot hold {text[:40]!r}", name
            )
    return None


def _fits_type(hubspot_type: str, text: str) -> bool:
    """Whether a non-empty value has the form HubSpot takes for the property type."""
    if hubspot_type == "number":
        try:
            return Decimal(text).is_finite()
        except ArithmeticError:
            return False
    if hubspot_type == "bool":
        return text in ("true", "false")
    if hubspot_type == "string":
        return len(text) <= MAX_STRING_LENGTH
    if hubspot_type in ("date", "datetime"):
        if text.isdigit():
            return True
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return False
        return hubspot_type == "datetime" or len(text) == 10
    return True


def _refused(update: RecordUpdate, code: str, message: str, field: str) -> WriteResult:
    return WriteResult(
        record_id=update.record_id, ok=False, error_code=code, message=message, fields=(field,)
    )


def batches(
    updates: Sequence[tuple[int, RecordUpdate]], size: int
) -> Iterator[list[tuple[int, RecordUpdate]]]:
    """Chunks of at most ``size``; a record id appears at most once per chunk."""
    chunk: list[tuple[int, RecordUpdate]] = []
    ids: set[str] = set()
    for item in updates:
        if len(chunk) >= size or item[1].record_id in ids:
            yield chunk
            chunk, ids = [], set()
        chunk.append(item)
        ids.add(item[1].record_id)
    if chunk:
        yield chunk


def parse_batch_response(
    inputs: Sequence[dict[str, Any]], body: Mapping[str, Any]
) -> list[WriteResult]:
    """One WriteResult per input, same order, from a 200 or 207 body."""
    by_trace = {str(i["objectWriteTraceId"]): i for i in inputs}
    by_id: dict[str, list[str]] = {}
    for i in inputs:
        by_id.setdefault(str(i["id"]), []).append(str(i["objectWriteTraceId"]))
    outcome: dict[str, WriteResult] = {}

    def traces_of(entry: Mapping[str, Any]) -> list[str]:
        context = entry.get("context") or {}
        traces = [entry.get("objectWriteTraceId"), *_as_list(context.get("objectWriteTraceId"))]
        found = [str(t) for t in traces if t is not None and str(t) in by_trace]
        if found:
            return found
        ids = [entry.get("id"), *_as_list(context.get("ids")), *_as_list(context.get("id"))]
        return [t for rid in ids if rid is not None for t in by_id.get(str(rid), [])]

    for result in body.get("results") or []:
        for trace in traces_of(result):
            outcome[trace] = WriteResult(
                record_id=str(by_trace[trace]["id"]),
                ok=True,
                fields=tuple(by_trace[trace]["properties"]),
            )
    for error in body.get("errors") or []:
        category = str(error.get("category") or "ERROR")
        sub = error.get("subCategory")
        code = f"{category}.{sub}" if isinstance(sub, str) and sub else category
        for trace in traces_of(error):
            outcome[trace] = WriteResult(
                record_id=str(by_trace[trace]["id"]),
                ok=False,
                error_code=code,
                message=str(error.get("message") or "")[:500],
                retriable=category in RETRIABLE_CATEGORIES,
                fields=tuple(by_trace[trace]["properties"]),
            )
    results: list[WriteResult] = []
    for i in inputs:
        trace = str(i["objectWriteTraceId"])
        results.append(
            outcome.get(trace)
            or WriteResult(
                record_id=str(i["id"]),
                ok=False,
                error_code="NO_RESULT",
                message="HubSpot's answer did not mention this record",
                retriable=True,
                fields=tuple(i["properties"]),
            )
        )
    return results


def _is_lock(result: WriteResult) -> bool:
    """A record another write held: its category (before any ``.subCategory``) is a lock's."""
    return (
        not result.ok
        and result.retriable
        and (result.error_code or "").split(".", 1)[0] in LOCK_CATEGORIES
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def sdk_batch_body(inputs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The batch update body, as a plain dict (the SDK's models cost a Configuration copy
    each: about 15 ms for a batch of 100)."""
    return {"inputs": list(inputs)}


class BatchWriter:
    """Sends checked updates in batches and collects one result per update."""

    def __init__(
        self,
        send: SendBatch,
        batch_size: int,
        *,
        should_stop: ShouldStop | None = None,
        lock_retry_attempts: int = 0,
        lock_retry_wait_seconds: float = 0.0,
        sleep: Callable[[float], None] | None = None,
        in_flight: int = 1,
    ) -> None:
        if in_flight < 1:
            raise ValueError(f"batches in flight must be >= 1, got {in_flight}")
        self._send = send
        self.in_flight = in_flight
        self.batch_size = batch_size
        self._should_stop = should_stop
        self.lock_retry_attempts = lock_retry_attempts
        self.lock_retry_wait_seconds = lock_retry_wait_seconds
        self._sleep = sleep
        self.stopped_by_quota: QuotaExhaustedError | None = None
        self.interrupted = False

    def write(self, items: Sequence[tuple[int, RecordUpdate]]) -> dict[int, WriteResult]:
        """One result per item. After a quota stop, or when ``should_stop`` says stop before a
        batch, the remaining items are marked NOT_SENT (the connector then raises
        PushStoppedError); the batches already under way end first. Records another write held (LOCK_CATEGORIES) are sent again in up
        to ``lock_retry_attempts`` rounds, the wait doubling from ``lock_retry_wait_seconds``."""
        out = self._write_all(items)
        by_index = dict(items)
        for attempt in range(self.lock_retry_attempts):
            locked = [(i, by_index[i]) for i, r in out.items() if _is_lock(r)]
            if not locked or self.stopped_by_quota is not None or self.interrupted:
                break
            if self._should_stop and self._should_stop():
                self.interrupted = True
                break
            if self._sleep is not None:
                self._sleep(self.lock_retry_wait_seconds * 2**attempt)
            out.update(self._write_all(locked, first_is_free=False))
        return out

    def _write_all(
        self, items: Sequence[tuple[int, RecordUpdate]], *, first_is_free: bool = True
    ) -> dict[int, WriteResult]:
        """Every item's result; up to ``in_flight`` batches under way at once (the rate limiter
        paces them), a batch never sent while another one under way writes one of its records."""
        out: dict[int, WriteResult] = {}
        running: dict[Future[dict[int, WriteResult]], set[str]] = {}

        def collect(block: bool) -> None:
            done, _ = wait(running, timeout=None if block else 0, return_when=FIRST_COMPLETED)
            for future in done:
                del running[future]
                out.update(future.result())

        with ThreadPoolExecutor(self.in_flight, thread_name_prefix="hubspot writes") as pool:
            for n, chunk in enumerate(batches(items, self.batch_size)):
                ids = {update.record_id for _, update in chunk}
                while running and (
                    len(running) >= self.in_flight or any(ids & busy for busy in running.values())
                ):
                    collect(block=True)
                if running:
                    collect(block=False)
                # Asked between batches, not before the first of a push (it was asked already).
                asks = n > 0 or not first_is_free
                if asks and self.stopped_by_quota is None and not self.interrupted:
                    self.interrupted = bool(self._should_stop and self._should_stop())
                if self.stopped_by_quota is not None or self.interrupted:
                    why = str(self.stopped_by_quota or "the run was asked to stop")
                    out.update({index: not_sent(update, why) for index, update in chunk})
                    continue
                running[pool.submit(self._write_chunk, chunk)] = ids
            while running:
                collect(block=True)
        return out

    def _write_chunk(self, chunk: list[tuple[int, RecordUpdate]]) -> dict[int, WriteResult]:
        inputs = [
            {
                "id": update.record_id,
                "properties": {k: to_hubspot_value(v) for k, v in update.values.items()},
                "objectWriteTraceId": f"kam-sync-{index}",
            }
            for index, update in chunk
        ]
        try:
            _status, body = self._send(inputs)
        except QuotaExhaustedError as exc:
            # Not sent: the budget check refused it before any request, or the CRM refused it
            # for its daily limit. Either way no record of it was written.
            self.stopped_by_quota = exc
            return {index: not_sent(update, str(exc)) for index, update in chunk}
        except RetriableApiError as exc:
            return self._all_failed(
                chunk, inputs, exc.error_code or "RETRIES_EXHAUSTED", str(exc), True
            )
        except FatalApiError as exc:
            if len(chunk) > 1 and exc.status == 400:
                half = len(chunk) // 2
                return {**self._write_chunk(chunk[:half]), **self._write_chunk(chunk[half:])}
            return self._all_failed(chunk, inputs, exc.error_code or "REJECTED", str(exc), False)
        results = parse_batch_response(inputs, body)
        return {index: result for (index, _), result in zip(chunk, results, strict=True)}

    @staticmethod
    def _all_failed(
        chunk: list[tuple[int, RecordUpdate]],
        inputs: list[dict[str, Any]],
        code: str,
        message: str,
        retriable: bool,
    ) -> dict[int, WriteResult]:
        return {
            index: WriteResult(
                record_id=update.record_id,
                ok=False,
                error_code=code,
                message=message[:500],
                retriable=retriable,
                fields=tuple(i["properties"]),
            )
            for (index, update), i in zip(chunk, inputs, strict=True)
        }
