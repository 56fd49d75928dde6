"""The sObject Get Deleted resource: `GET sobjects/{type}/deleted/?start=&end=`.

As the REST API Developer Guide describes it ("sObject Get Deleted"): the ids deleted in the
timespan, read from the org's delete log, with `earliestDateAvailable` (the oldest entry the
log still holds) and `latestDateCovered`; the seconds of `start` and `end` are ignored;
"results are returned for no more than 15 days previous to the day the call is executed";
more than 600,000 ids is `EXCEEDED_ID_LIMIT`. Hard-deleted and purged records are listed
here although `queryAll` no longer returns them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from kam_sync.sandbox.salesforce.errors import sf_fail
from kam_sync.sandbox.salesforce.store import SalesforceStore
from kam_sync.sandbox.salesforce.values import format_datetime, parse_datetime
from kam_sync.sandbox.server import Request, Response, json_response

GET_DELETED_DAYS = 15
MAX_DELETED_IDS = 600_000


def _minute(value: dt.datetime) -> dt.datetime:
    return value.replace(second=0, microsecond=0)


class GetDeletedService:
    """Serves the delete log of each object."""

    def __init__(self, store: SalesforceStore, *, count_read: Callable[[int], None]) -> None:
        self.store = store
        self._count_read = count_read
        self.max_ids = MAX_DELETED_IDS

    def get_deleted(self, request: Request) -> Response:
        schema = self.store.schema.get(request.params["sobject"])
        if schema is None:
            raise sf_fail(
                404, "NOT_FOUND", f"sObject type '{request.params['sobject']}' is not supported."
            )
        start_text, end_text = request.query_one("start"), request.query_one("end")
        if not start_text or not end_text:
            raise sf_fail(400, "MISSING_ARGUMENT", "start and end are required")
        start, end = parse_datetime(start_text), parse_datetime(end_text)
        if start is None or end is None:
            raise sf_fail(400, "INVALID_REPLICATION_DATE", "start and end must be date-times")
        start, end = _minute(start), _minute(end)
        now = self.store.clock()
        window_start = _minute(now) - dt.timedelta(days=GET_DELETED_DAYS)
        # Guess: the code and text SOAP getDeleted() documents for a start outside the window.
        if start < window_start:
            raise sf_fail(
                400,
                "INVALID_REPLICATION_DATE",
                f"startDate cannot be more than {GET_DELETED_DAYS} days ago",
            )
        if end < start:
            raise sf_fail(400, "INVALID_REPLICATION_DATE", "endDate must be after startDate")
        key = schema.name.lower()
        with self.store.lock:
            log = list(self.store.delete_log.get(key, ()))
            purged_before = self.store.delete_log_start.get(key)
        hits = [(i, when) for i, when in log if start <= when <= end + dt.timedelta(minutes=1)]
        if len(hits) > self.max_ids:
            raise sf_fail(
                400,
                "EXCEEDED_ID_LIMIT",
                "too many ids were requested; choose start and end dates closer together",
            )
        earliest = max(window_start, purged_before) if purged_before else window_start
        self._count_read(len(hits))
        return json_response(
            200,
            {
                "deletedRecords": [
                    {"id": i, "deletedDate": format_datetime(when)} for i, when in hits
                ],
                "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": format_datetime(min(end, _minute(now))),
            },
        )
