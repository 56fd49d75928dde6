"""Incremental pulls: SOQL from the mapping, ``queryAll`` paged by ``nextRecordsUrl``.

* ``queryAll`` so deleted records (``IsDeleted = true``) arrive and leave the engine's scope.
* ``SystemModstamp`` in the incremental window (``kam_sync_connectors.window``: from the
  watermark minus the look-back to the run's start), ordered by ``SystemModstamp, Id`` so each
  page's stamps only go up.
* ``Sforce-Query-Options: batchSize=N`` sets the page size (200..2000; REST API Developer Guide,
  "Query Options Header"; Salesforce may return fewer).
* Pages are yielded one by one; only the Ids at the current highest stamp are remembered
  (``window.Boundary``), to drop duplicates when the query has to be restarted from that stamp
  (an expired query locator).
* A first full pull above ``bulk_query_threshold`` records runs as one Bulk API 2.0 query job,
  with no ORDER BY (it would turn off PK chunking and large objects' queries would time out).
  Its rows come in no order, so those pages carry no watermark except an empty last one, the
  highest stamp seen, computed here.
* Related pseudo-fields (``@AccountTeamMember.TeamMemberRole``): a change to a child record does
  not move the parent's ``SystemModstamp``. An incremental pull therefore also asks which
  parents have children changed (or deleted) in the same window, and pulls those parents by Id
  first, without a watermark (the regular pages that follow move it).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from simple_salesforce.api import Salesforce

from kam_sync.errors import FatalApiError
from kam_sync_connectors.base import Page, PullRequest, RawRecord
from kam_sync_connectors.salesforce import bulk, soql
from kam_sync_connectors.salesforce.client import SalesforceClient
from kam_sync_connectors.salesforce.describe import DescribeCache, SObjectSchema
from kam_sync_connectors.salesforce.error_map import CONNECTOR
from kam_sync_connectors.salesforce.records import csv_records, flatten, parse_datetime
from kam_sync_connectors.salesforce.wire import datetime_text
from kam_sync_connectors.window import (
    Boundary,
    IncrementalWindow,
    id_reconciliation_due,
)

EXPIRED_LOCATOR_CODES = frozenset({"INVALID_QUERY_LOCATOR", "QUERY_TIMEOUT"})
# Multi-currency orgs: each record's currency (Object Reference, "CurrencyIsoCode"), and the
# rates of the active currencies.
CURRENCY_FIELD = "CurrencyIsoCode"
CURRENCY_RATES_QUERY = (
    "SELECT IsoCode, ConversionRate, IsCorporate FROM CurrencyType WHERE IsActive = true"
)
# Advanced currency management: opportunity amounts convert at the rate of their close date.
DATED_BY_FIELD = "CloseDate"
DATED_RATES_QUERY = (
    "SELECT IsoCode, ConversionRate, StartDate, NextStartDate FROM DatedConversionRate"
)
# On a record a merge deleted, the id of the record that absorbed it (Object Reference).
MERGED_INTO_FIELD = "MasterRecordId"
# Get Deleted counts its 15 days from the moment of the call; a run starts a little before.
_GET_DELETED_MARGIN = timedelta(hours=1)
_CHILD_STAMPS = ("SystemModstamp", "LastModifiedDate")

log = logging.getLogger(__name__)


def _merges(request: PullRequest, page: Page, merged_field: str) -> None:
    """Name, on the page, each deleted record a merge took away and the record that survived."""
    deleted = request.deleted_field or ""
    for record in page.records:
        survivor = record.get(merged_field)
        if survivor and record.get(deleted):
            page.merged_into[str(record[request.id_field])] = str(survivor)
    if page.merged_into:
        # Salesforce re-parents the loser's children (opportunities) to the survivor, so they
        # arrive with it in this or the next pull; the loser itself leaves scope.
        log.info(
            "salesforce: %d %s records were merged into another record; they leave scope and "
            "their related records count toward the surviving record",
            len(page.merged_into),
            request.object_name,
        )


def _currency_fields(schema: SObjectSchema, request: PullRequest) -> dict[str, int]:
    """The requested currency fields and their scales, when the org is multi-currency."""
    if schema.field(CURRENCY_FIELD) is None:
        return {}
    found: dict[str, int] = {}
    for name in request.fields:
        described = schema.field(name) if "." not in name else None
        if described is not None and described.type == "currency":
            found[name] = described.scale if described.scale is not None else 2
    return found


def _dated_rate(
    record: RawRecord, dated: dict[str, list[tuple[date, date | None, Decimal]]]
) -> dict[str, Decimal] | None:
    """``{currency: rate}`` for the record's close date, or None to use the current rates."""
    code, when = record.get(CURRENCY_FIELD), record.get(DATED_BY_FIELD)
    if not dated or code is None or not when:
        return None
    day = date.fromisoformat(str(when)[:10])
    for start, next_start, rate in dated.get(str(code), ()):
        if start <= day and (next_start is None or day < next_start):
            return {str(code): rate}
    return None


def _to_corporate(record: RawRecord, money: dict[str, int], rates: dict[str, Decimal]) -> None:
    code = record.get(CURRENCY_FIELD)
    if code is None:
        return  # a tombstone from the delete log carries no amounts
    rate = rates.get(str(code))
    if rate is None or rate == 0:
        raise FatalApiError(
            f"a record is in currency {code}, which has no active conversion rate in CurrencyType",
            connector=CONNECTOR,
        )
    for name, scale in money.items():
        value = record.get(name)
        if value is None or rate == 1:
            continue
        record[name] = (Decimal(str(value)) / rate).quantize(Decimal(1).scaleb(-scale))


def _get(path: str, params: dict[str, str], sf: Salesforce) -> Any:
    return sf.restful(path, method="GET", params=params)


def _query(query_text: str, headers: dict[str, str], sf: Salesforce) -> Any:
    return sf.query(query_text, headers=headers)


def _query_all(query_text: str, headers: dict[str, str], sf: Salesforce) -> Any:
    return sf.query(query_text, include_deleted=True, headers=headers)


def _query_more(next_url: str, headers: dict[str, str], sf: Salesforce) -> Any:
    return sf.query_more(next_url, identifier_is_url=True, headers=headers)


class _UseBulk(Exception):
    """The first REST page showed a result set big enough for a Bulk API 2.0 query."""


class Puller:
    """Runs one PullRequest as a stream of Pages."""

    def __init__(self, client: SalesforceClient, describe: DescribeCache) -> None:
        self._client = client
        self._describe = describe
        self._rates: dict[str, Decimal] | None = None
        self._dated: dict[str, list[tuple[date, date | None, Decimal]]] | None = None
        # The org's corporate currency, once a multi-currency pull has read the rates.
        self.corporate_currency: str | None = None

    def pull(self, request: PullRequest) -> Iterator[Page]:
        schema = self._describe.schema(request.object_name)
        money = _currency_fields(schema, request)
        if not money:
            yield from self._pull(request, ())
            return
        rates = self._currency_rates()
        dated = self._dated_rates() if schema.field(DATED_BY_FIELD) is not None else {}
        extra = (CURRENCY_FIELD, DATED_BY_FIELD) if dated else (CURRENCY_FIELD,)
        for page in self._pull(request, extra):
            for record in page.records:
                _to_corporate(record, money, _dated_rate(record, dated) or rates)
            yield page

    def _dated_rates(self) -> dict[str, list[tuple[date, date | None, Decimal]]]:
        """Dated rates per currency, when advanced currency management is on (else empty).

        With it, opportunity amounts convert at the rate of the period their close date falls
        in (Salesforce Help, "Edit Dated Exchange Rates"; Object Reference,
        "DatedConversionRate"). Without multi-currency the object does not exist (INVALID_TYPE);
        without advanced currency management it has no rows.
        """
        if self._dated is None:
            dated: dict[str, list[tuple[date, date | None, Decimal]]] = {}
            try:
                rows = list(self._all_records("query DatedConversionRate", DATED_RATES_QUERY))
            except FatalApiError as exc:
                if exc.error_code != "INVALID_TYPE":
                    raise
                rows = []
            for row in rows:
                next_start = row.get("NextStartDate")
                dated.setdefault(str(row["IsoCode"]), []).append(
                    (
                        date.fromisoformat(str(row["StartDate"])),
                        date.fromisoformat(str(next_start)) if next_start else None,
                        Decimal(str(row["ConversionRate"])),
                    )
                )
            self._dated = dated
        return self._dated

    def _currency_rates(self) -> dict[str, Decimal]:
        """Active currencies' rates against the corporate one (read once per connector).

        Multi-currency orgs keep each record's amounts in its ``CurrencyIsoCode``; the
        ``CurrencyType`` object holds each active currency's ``ConversionRate``, units per one
        unit of the corporate currency (Object Reference, "CurrencyType"). Converting here,
        rather than with SOQL ``convertCurrency()``, works for Bulk API 2.0 queries too and
        gives the corporate currency, not the integration user's.
        """
        if self._rates is None:
            rates: dict[str, Decimal] = {}
            corporate = None
            for row in self._all_records("query CurrencyType", CURRENCY_RATES_QUERY):
                rates[str(row["IsoCode"])] = Decimal(str(row["ConversionRate"]))
                if row.get("IsCorporate"):
                    corporate = str(row["IsoCode"])
            self._rates = rates
            self.corporate_currency = corporate
            log.info(
                "salesforce: multi-currency org; amounts are converted to the corporate "
                "currency %s",
                corporate,
            )
        return self._rates

    def _pull(self, request: PullRequest, extra: tuple[str, ...]) -> Iterator[Page]:
        schema = self._describe.schema(request.object_name)
        wanted = [request.id_field, request.modified_field, *extra]
        merged_field = None
        if request.deleted_field:
            wanted.append(request.deleted_field)
            if schema.field(MERGED_INTO_FIELD) is not None:
                merged_field = MERGED_INTO_FIELD
                wanted.append(MERGED_INTO_FIELD)
        selection = soql.select_fields(schema, [*wanted, *request.fields], self._describe.schema)
        window = IncrementalWindow.of(
            request, look_back_minutes=self._client.settings.look_back_minutes
        )
        since = window.start
        if since is None and not selection.related:
            # A first full pull: the REST query's first page says how many records match; a
            # set above the threshold goes through a Bulk API 2.0 query job instead. Nothing has
            # been yielded by then, and no extra COUNT() call is needed.
            try:
                yield from self._rest_pull(
                    request, selection, since, bulk_above=self._client.settings.bulk_query_threshold
                )
            except _UseBulk:
                yield from self._bulk_pull(request, selection)
            return
        log_gap = False
        if since is not None and request.deleted_field:
            # Before the regular pages, for the same reason as the parents below.
            log_gap = yield from self._hard_deleted(request, since)
        if since is not None and selection.related:
            # Before the regular pages: they move the watermark, and a run stopped after them
            # must not have skipped these parents.
            yield from self._parents_of_changed_children(request, selection, since)
        for page in self._rest_pull(request, selection, since):
            if merged_field is not None:
                _merges(request, page, merged_field)
            yield page
        every_days = self._client.settings.id_reconciliation_days
        if request.deleted_field and (
            id_reconciliation_due(request, every_days) or (log_gap and every_days > 0)
        ):
            yield self._existing_ids(request)

    def _existing_ids(self, request: PullRequest) -> Page:
        """Every id of the object that exists now, for the engine to drop the others."""
        query_text = (
            f"SELECT {soql.check_name(request.id_field, 'field')} "
            f"FROM {soql.check_name(request.object_name, 'object')}"
        )
        headers = {"Sforce-Query-Options": "batchSize=2000"}
        ids: set[str] = set()
        result = self._client.call(
            f"list {request.object_name} ids", partial(_query, query_text, headers)
        )
        while True:
            ids.update(str(r[request.id_field]) for r in result.get("records") or ())
            if result.get("done", True) or not result.get("nextRecordsUrl"):
                break
            next_url = result["nextRecordsUrl"]
            result = self._client.call(
                f"list {request.object_name} ids (next page)",
                partial(_query_more, next_url, headers),
            )
        log.info(
            "salesforce: id reconciliation: %d %s records exist", len(ids), request.object_name
        )
        return Page([], high_watermark=None, existing_ids=frozenset(ids))

    def _hard_deleted(self, request: PullRequest, since: datetime) -> Generator[Page, None, bool]:
        """Records deleted in the window, from the Get Deleted resource, as tombstones.

        ``queryAll`` returns deleted records only while they are in the recycle bin; records
        hard-deleted, purged from the bin, or merged away and purged are found only in the
        org's delete log (REST API Developer Guide, "sObject Get Deleted": up to 15 days back,
        start and end to the minute). Each comes out as ``{id, deleted: true, modified:
        deletedDate}``.

        The log is read from where the last complete pull read it to (``previous_until``, less
        the look-back), else from ``since``. Returns True when deletions may have been missed:
        the log no longer reaches back to that point (a gap of more than 15 days between pulls,
        or a log Salesforce emptied early). The id reconciliation then runs in this pull.
        """
        assert request.deleted_field is not None
        settings = self._client.settings
        end = request.until
        read_from = since
        if request.previous_until is not None:
            read_from = request.previous_until - timedelta(minutes=settings.look_back_minutes)
        oldest = end - timedelta(days=settings.get_deleted_days) + _GET_DELETED_MARGIN
        start = max(read_from, oldest)
        if start >= end:
            return False
        params = {"start": datetime_text(start), "end": datetime_text(end)}
        path = f"sobjects/{soql.check_name(request.object_name, 'object')}/deleted/"
        result: dict[str, Any] = (
            self._client.call(f"get deleted {request.object_name}", partial(_get, path, params))
            or {}
        )
        earliest = parse_datetime(result.get("earliestDateAvailable"))
        reach = max(oldest, earliest or oldest)
        gap = read_from < reach
        if gap:
            log.warning(
                "salesforce: %s deletions between %s and %s may be missing: Salesforce's delete "
                "log no longer reaches back before %s; %s",
                request.object_name,
                read_from.isoformat(timespec="minutes"),
                reach.isoformat(timespec="minutes"),
                reach.isoformat(timespec="minutes"),
                "this pull lists every id to find them"
                if settings.id_reconciliation_days > 0
                else "crm.salesforce.id_reconciliation_days is 0, so they are not looked for",
            )
        records: list[RawRecord] = [
            {
                request.id_field: str(entry["id"]),
                request.deleted_field: True,
                request.modified_field: entry.get("deletedDate"),
            }
            for entry in result.get("deletedRecords") or ()
            if entry.get("id")
        ]
        if records:
            log.info(
                "salesforce: %d %s records were deleted since the last run (delete log)",
                len(records),
                request.object_name,
            )
            yield Page(records, high_watermark=None)
        return gap

    def _parents_of_changed_children(
        self, request: PullRequest, selection: soql.Selection, since: datetime
    ) -> Iterator[Page]:
        parents: set[str] = set()
        for related in selection.related:
            child = self._describe.schema(related.child_object)
            stamp = next((f for f in _CHILD_STAMPS if child.field(f) is not None), None)
            if stamp is None or related.parent_field is None:
                log.warning(
                    "salesforce: changes to %s cannot be found incrementally (no %s); "
                    "`kam-sync run --full` reads them",
                    related.child_object,
                    "modification stamp" if stamp is None else "reference to the parent",
                )
                continue
            query_text = soql.changed_children_query(
                related, modified_field=stamp, since=since, until=request.until
            )
            for record in self._all_records(f"query {related.child_object}", query_text):
                if record.get(related.parent_field):
                    parents.add(str(record[related.parent_field]))
        ids = sorted(parents)
        if ids:
            log.info(
                "salesforce: %d %s records have changed related records; pulling them by Id",
                len(ids),
                request.object_name,
            )
        for start in range(0, len(ids), soql.IDS_PER_QUERY):
            query_text = soql.selection_by_ids_query(
                request.object_name,
                selection,
                request.id_field,
                ids[start : start + soql.IDS_PER_QUERY],
            )
            records = [
                flatten(raw, selection, self._fetch_children)
                for raw in self._all_records(f"query {request.object_name} by id", query_text)
            ]
            yield Page(records, high_watermark=None)

    def _all_records(self, what: str, query_text: str) -> Iterator[dict[str, Any]]:
        """Every record of a (small) ``queryAll`` result, following ``nextRecordsUrl``."""
        result = self._client.call(what, partial(_query_all, query_text, {}))
        while True:
            yield from result.get("records") or ()
            if result.get("done", True) or not result.get("nextRecordsUrl"):
                return
            next_url = result["nextRecordsUrl"]
            result = self._client.call(f"{what} (next page)", partial(_query_more, next_url, {}))

    # -- REST ----------------------------------------------------------------------------------

    def _rest_pull(
        self,
        request: PullRequest,
        selection: soql.Selection,
        since: datetime | None,
        *,
        bulk_above: int | None = None,
    ) -> Iterator[Page]:
        batch = request.page_size or self._client.settings.query_batch_size
        batch = min(max(batch, 200), 2000)
        headers = {"Sforce-Query-Options": f"batchSize={batch}"}
        boundary: Boundary[datetime] = Boundary()
        start = since
        next_url: str | None = None
        last_restart: tuple[datetime, int] | None = None
        while True:
            query_text = soql.incremental_query(
                request.object_name,
                selection,
                modified_field=request.modified_field,
                id_field=request.id_field,
                since=start,
                until=request.until,
            )
            try:
                while True:
                    if next_url is None:
                        result = self._client.call(
                            f"query {request.object_name}",
                            partial(_query_all, query_text, headers),
                        )
                        if bulk_above is not None:
                            if int(result.get("totalSize") or 0) > bulk_above:
                                raise _UseBulk
                            bulk_above = None  # decided once, on the first page
                    else:
                        result = self._client.call(
                            f"query {request.object_name} (next page)",
                            partial(_query_more, next_url, headers),
                        )
                    page = self._page(result, request, selection, boundary)
                    if next_url is None and start == since and "totalSize" in result:
                        page.expected_total = int(result["totalSize"])
                    if page.records or result.get("done", True):
                        yield page
                    next_url = None if result.get("done", True) else result["nextRecordsUrl"]
                    if next_url is None:
                        return
            except FatalApiError as exc:
                if exc.error_code not in EXPIRED_LOCATOR_CODES or boundary.stamp is None:
                    raise
                progress = (boundary.stamp, len(boundary.ids))
                if progress == last_restart:
                    raise  # restarting again would fetch the same records again, forever
                last_restart = progress
                # The cursor is gone (Salesforce keeps it 15 minutes of inactivity, and a limited
                # number per user): start again from the last stamp; Boundary drops repeats.
                start, next_url = boundary.stamp, None

    def _page(
        self,
        result: dict[str, Any],
        request: PullRequest,
        selection: soql.Selection,
        boundary: Boundary[datetime],
    ) -> Page:
        records: list[RawRecord] = []
        for raw in result.get("records") or ():
            record = flatten(raw, selection, self._fetch_children)
            stamp = parse_datetime(record.get(request.modified_field))
            if boundary.admit(str(record.get(request.id_field)), stamp):
                records.append(record)
        return Page(records, high_watermark=boundary.stamp)

    def _fetch_children(self, next_url: str) -> dict[str, Any]:
        result: dict[str, Any] = self._client.call(
            "query child records",
            lambda sf: sf.query_more(next_url, identifier_is_url=True),
        )
        return result

    # -- Bulk API 2.0 --------------------------------------------------------------------------

    def _bulk_pull(self, request: PullRequest, selection: soql.Selection) -> Iterator[Page]:
        schema = self._describe.schema(request.object_name)
        types: dict[str, str | None] = {}
        for path in selection.paths:
            described = schema.field(path) if "." not in path else None
            types[path] = described.type if described else None
        query_text = soql.incremental_query(
            request.object_name,
            selection,
            modified_field=request.modified_field,
            id_field=request.id_field,
            since=None,
            until=request.until,
            ordered=False,
        )
        # A Bulk query's rows come in no useful order, so the watermark can only move once the
        # whole result is stored: every slice goes out without one, then an empty page carries it.
        highest: datetime | None = None
        for rows in bulk.query_pages(self._client, query_text):
            records = list(csv_records(iter(rows), types))
            del rows
            for record in records:
                stamp = parse_datetime(record.get(request.modified_field))
                if stamp is not None and (highest is None or stamp > highest):
                    highest = stamp
            yield Page(records, high_watermark=None)
        yield Page([], high_watermark=highest)
