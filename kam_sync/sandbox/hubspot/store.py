"""The HubSpot portal's data: companies, deals, owners and their associations.

Seeded records keep a reference to their `portfolio` row and read property values from it
on demand; only written values are stored per record. That keeps a 100,000-company,
500,000-deal portal cheap to load while every read still sees every write.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from kam_sync.sandbox.hubspot.properties import (
    InvalidValue,
    PropertyRegistry,
    epoch_millis,
    format_number,
    iso_millis,
    parse_datetime,
)
from kam_sync.sandbox.hubspot.seed_values import (
    CLOSED_STAGES,
    COMPANY_ID_BASE,
    DEAL_ID_BASE,
    OWNER_ID_BASE,
    STAGE_PROBABILITY,
    USER_ID_BASE,
    PortalCurrencies,
    Reader,
    company_readers,
    deal_readers,
)
from kam_sync.sandbox.hubspot.standard_properties import company_registry, deal_registry
from kam_sync.sandbox.portfolio import Portfolio, SeedCompany, SeedDeal

Seed = SeedCompany | SeedDeal


class RecordNotFound(LookupError):
    """No live record of that type has that id."""


class CrmRecord:
    """One company or deal; `values` holds what was written since the seed.

    The stamps are also kept as epoch milliseconds, which is what search filters and sorts
    compare: a search over 500,000 deals must not convert 500,000 datetimes.
    """

    __slots__ = (
        "_created_at",
        "_updated_at",
        "archived_at",
        "created_ms",
        "id",
        "seed",
        "updated_ms",
        "values",
    )

    def __init__(
        self,
        record_id: int,
        seed: Seed | None,
        created_at: datetime,
        updated_at: datetime,
    ) -> None:
        self.id = record_id
        self.seed = seed
        self.values: dict[str, str | None] | None = None
        self.created_at = created_at
        self.updated_at = updated_at
        self.archived_at: datetime | None = None

    @property
    def created_at(self) -> datetime:
        return self._created_at

    @created_at.setter
    def created_at(self, moment: datetime) -> None:
        self._created_at = moment
        self.created_ms = epoch_millis(moment)

    @property
    def updated_at(self) -> datetime:
        return self._updated_at

    @updated_at.setter
    def updated_at(self, moment: datetime) -> None:
        self._updated_at = moment
        self.updated_ms = epoch_millis(moment)


@dataclass(slots=True)
class Owner:
    id: int
    user_id: int
    email: str
    first_name: str
    last_name: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        stamp = iso_millis(self.created_at)
        return {
            "id": str(self.id),
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": self.user_id,
            "userIdIncludingInactive": self.user_id,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
            "teams": [],
        }


class ObjectTable:
    """The records of one object type, in id order."""

    def __init__(
        self, object_type: str, registry: PropertyRegistry, readers: Mapping[str, Reader]
    ) -> None:
        self.object_type = object_type
        self.registry = registry
        self.readers = dict(readers)
        self.records: dict[int, CrmRecord] = {}
        self.ids: list[int] = []  # ascending; new records get a larger id

    def add(self, record: CrmRecord) -> None:
        self.records[record.id] = record
        self.ids.append(record.id)

    def next_id(self, base: int) -> int:
        return (self.ids[-1] if self.ids else base) + 1

    def live(self, record_id: int) -> CrmRecord:
        record = self.records.get(record_id)
        if record is None or record.archived_at is not None:
            raise RecordNotFound(f"{self.object_type} {record_id}")
        return record

    def value(self, record: CrmRecord, name: str) -> str | None:
        """The current value of property `name` (None when it has none)."""
        if record.values is not None and name in record.values:
            return record.values[name]
        if name == "hs_object_id":
            return str(record.id)
        if name == "createdate":
            return iso_millis(record.created_at)
        if name == "hs_lastmodifieddate":
            return iso_millis(record.updated_at)
        reader = self.readers.get(name)
        if reader is None or record.seed is None:
            return None
        return reader(record.seed)

    def iter_from(self, after: int | None, *, archived: bool) -> Iterator[CrmRecord]:
        """Records with an id above `after`, live or archived ones only."""
        start = 0 if after is None else bisect_right(self.ids, after)
        records = self.records
        for index in range(start, len(self.ids)):
            record = records[self.ids[index]]
            if (record.archived_at is not None) == archived:
                yield record


DEFAULT_SEARCH_LAG_SECONDS = 0.5


class HubSpotStore:
    """All of one sandbox portal's data, guarded by one lock for writes."""

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        # Bumped by every change, so cached search results know when they are stale.
        self.version = 0
        # The portal's company currency and exchange rates (single-currency until set).
        self.currencies = PortalCurrencies()
        # User-defined association labels: (from type, to type, id) -> [(target, type id, label)]
        self.user_labels: dict[tuple[str, str, int], list[tuple[int, int, str]]] = {}
        # Search lags behind writes: "it may take a few moments for newly created or updated
        # objects to appear in search results" (developers.hubspot.com/docs/api/crm/search).
        # A record written less than this long ago is not yet in the search index, neither in
        # its new form nor (guessed, a simplification) its old one. List and read are current.
        self.search_lag_seconds = DEFAULT_SEARCH_LAG_SECONDS
        self._unindexed: dict[tuple[str, int], float] = {}
        # Ids merged away, by object type: gone for good, also after a restart from a data file.
        self.merged_away: dict[str, set[int]] = {}
        # Ids deleted for good (purge), by object type: likewise gone after a restart.
        self.purged: dict[str, set[int]] = {}
        self.clock = clock or (lambda: datetime.now(UTC))
        self.as_of = portfolio.as_of
        self.owners = [
            Owner(
                id=OWNER_ID_BASE + user.key,
                user_id=USER_ID_BASE + user.key,
                email=user.email,
                first_name=user.name.split(" ", 1)[0],
                last_name=user.name.split(" ", 1)[-1],
                created_at=portfolio.as_of - timedelta(days=900),
            )
            for user in portfolio.users
        ]
        owner_ids = [str(o.id) for o in self.owners]
        self.companies = ObjectTable("companies", company_registry(owner_ids), company_readers())
        self.deals = ObjectTable("deals", deal_registry(owner_ids), {})
        self.deal_company: dict[int, int] = {}
        self.company_deals: dict[int, list[int]] = {}
        self.company_parent: dict[int, int] = {}
        self.company_children: dict[int, list[int]] = {}
        self._load(portfolio)

    # -- loading ---------------------------------------------------------------------------

    def _load(self, portfolio: Portfolio) -> None:
        as_of = portfolio.as_of
        company_owner: dict[int, str] = {}
        add_company = self.companies.add
        for company in portfolio.companies:
            company_id = COMPANY_ID_BASE + company.key
            updated = max(company.created_at, as_of - timedelta(days=company.key % 97, hours=3))
            add_company(CrmRecord(company_id, company, company.created_at, updated))
            company_owner[company_id] = str(OWNER_ID_BASE + company.owner_key)
            if company.parent_key is not None:
                parent_id = COMPANY_ID_BASE + company.parent_key
                self.company_parent[company_id] = parent_id
                self.company_children.setdefault(parent_id, []).append(company_id)
        self.deals.readers.update(deal_readers(company_owner, OWNER_ID_BASE + 1))
        company_records = self.companies.records
        add_deal = self.deals.add
        for deal in portfolio.deals:
            deal_id = DEAL_ID_BASE + deal.key
            # Spread over the past, never clamped to as_of: a seed where one deal in eight
            # shared the stamp as_of put them all inside the look-back of the watermark, and
            # every no-change night re-read them (issue 14).
            updated = min(
                as_of - timedelta(minutes=15 + deal.key % 1440),
                deal.created_at + timedelta(days=deal.key % 200),
            )
            add_deal(CrmRecord(deal_id, deal, deal.created_at, max(updated, deal.created_at)))
            if deal.company_key is not None:
                company_id = COMPANY_ID_BASE + deal.company_key
                # Orphans point at a company that does not exist: no association at all.
                if company_id in company_records:
                    self.deal_company[deal_id] = company_id
                    self.company_deals.setdefault(company_id, []).append(deal_id)

    # -- lookups ----------------------------------------------------------------------------

    def table(self, object_type: str) -> ObjectTable:
        """`companies` or `deals`."""
        if object_type == "companies":
            return self.companies
        if object_type == "deals":
            return self.deals
        raise KeyError(object_type)

    @staticmethod
    def company_id(key: int) -> str:
        """The HubSpot id of the portfolio company with this key."""
        return str(COMPANY_ID_BASE + key)

    @staticmethod
    def deal_id(key: int) -> str:
        """The HubSpot id of the portfolio deal with this key."""
        return str(DEAL_ID_BASE + key)

    @staticmethod
    def owner_id(user_key: int) -> str:
        """The HubSpot owner id of the portfolio user with this key."""
        return str(OWNER_ID_BASE + user_key)

    def properties_of(
        self, table: ObjectTable, record: CrmRecord, names: Iterable[str]
    ) -> dict[str, str | None]:
        """The requested properties; unknown names are left out, as HubSpot does."""
        known = table.registry.names()
        return {n: table.value(record, n) for n in names if n in known}

    # -- writes -----------------------------------------------------------------------------

    def write(
        self, table: ObjectTable, record: CrmRecord, values: Mapping[str, str | None]
    ) -> None:
        """Store already-checked values and bump `hs_lastmodifieddate`."""
        with self.lock:
            self.version += 1
            if record.values is None:
                record.values = {}
            record.values.update(values)
            if table.object_type == "deals" and "dealstage" in values:
                _derive_deal_stage_values(record.values, values["dealstage"])
            if table.object_type == "deals" and {"amount", "deal_currency_code"} & set(values):
                record.values["amount_in_home_currency"] = self._home_amount(table, record)
            self._not_yet_indexed(table.object_type, record.id)
            now = self.clock()
            # Two writes within one millisecond must still move the modstamp forward.
            floor = record.updated_at + timedelta(milliseconds=1)
            record.updated_at = now if now >= floor else floor

    def _home_amount(self, table: ObjectTable, record: CrmRecord) -> str | None:
        """HubSpot's calculated ``amount_in_home_currency`` of a deal as it now stands."""
        amount = table.value(record, "amount")
        if amount is None or amount == "":
            return None
        code = table.value(record, "deal_currency_code")
        return format_number(self.currencies.in_home_currency(Decimal(amount), code))

    def set_values(self, object_type: str, record_id: int | str, raw: Mapping[str, object]) -> None:
        """Change a record as a user in HubSpot's UI would (checked like an API write)."""
        table = self.table(object_type)
        with self.lock:
            record = table.live(int(record_id))
            checked: dict[str, str | None] = {}
            for name, value in raw.items():
                result = table.registry.normalize(name, value)
                if isinstance(result, InvalidValue):
                    raise ValueError(f"{object_type} {record_id}: {result.message}")
                checked[name] = result
            self.write(table, record, checked)

    def archive(self, object_type: str, record_id: int | str) -> None:
        """Delete (archive) a record, as a user would in HubSpot's UI."""
        table = self.table(object_type)
        with self.lock:
            record = table.live(int(record_id))
            self.version += 1
            self._not_yet_indexed(table.object_type, record.id)
            record.archived_at = self.clock()
            record.updated_at = record.archived_at

    def create(self, object_type: str, raw: Mapping[str, object]) -> str:
        """Create a record with these property values; returns its id."""
        table = self.table(object_type)
        base = COMPANY_ID_BASE if object_type == "companies" else DEAL_ID_BASE
        with self.lock:
            self.version += 1
            now = self.clock()
            record = CrmRecord(table.next_id(base), None, now, now)
            table.add(record)
            record.values = {}
        self.set_values(object_type, record.id, raw)
        return str(record.id)

    def merge(self, object_type: str, primary_id: int | str, merged_id: int | str) -> None:
        """Merge ``merged_id`` into ``primary_id``, as ``POST /crm/v3/objects/{type}/merge``
        does (developers.hubspot.com/docs/api-reference/legacy/crm/objects/companies/
        merge-companies; knowledge.hubspot.com/records/merge-records).

        The primary keeps its id and gains the merged record's associations; its
        ``hs_merged_object_ids`` names the merged id (and any merged into that one before).
        The merged record is not archived: it is gone, listed neither live nor archived and
        not found by search (fivetran/dbt_hubspot#134, singer-io/tap-hubspot#49).
        Guessed: the moved deals' and child companies' modification stamps move too.
        """
        table = self.table(object_type)
        with self.lock:
            primary, merged = int(primary_id), int(merged_id)
            if primary == merged:
                raise ValueError("a record cannot be merged into itself")
            survivor = table.live(primary)
            gone = table.live(merged)
            earlier = table.value(gone, "hs_merged_object_ids") or ""
            ids = [*(table.value(survivor, "hs_merged_object_ids") or "").split(";")]
            ids += [str(merged), *earlier.split(";")]
            merged_ids = ";".join(sorted({i for i in ids if i}, key=int))
            if object_type == "companies":
                for deal in list(self.company_deals.get(merged, [])):
                    self.associate_deal(deal, primary)
                    self.write(self.deals, self.deals.live(deal), {})
                for child in list(self.company_children.get(merged, [])):
                    self.set_parent(child, primary if child != primary else None)
                    self.write(self.companies, self.companies.live(child), {})
                if self.company_parent.get(merged) is not None:
                    self.set_parent(merged, None)
            else:
                self.associate_deal(merged, None)
            for key in [k for k in self.user_labels if k[2] == merged]:
                del self.user_labels[key]
            del table.records[merged]
            table.ids.remove(merged)
            self.merged_away.setdefault(object_type, set()).add(merged)
            self.write(table, survivor, {"hs_merged_object_ids": merged_ids})

    def purge(self, object_type: str, record_id: int | str) -> None:
        """Delete a record for good, leaving no trace: as HubSpot does once an archived record
        is past its 90-day restore window, or at once for a permanent or GDPR deletion, which
        skips the recycle bin (knowledge.hubspot.com/records/restore-deleted-records).

        The record is listed neither live nor archived, found by no search, read by no batch
        read, named by no survivor; its associations go with it. Live or archived alike.
        """
        table = self.table(object_type)
        with self.lock:
            gone = int(record_id)
            if gone not in table.records:
                raise RecordNotFound(f"{object_type} {gone}")
            # Unlinked directly: the records at the other end may be archived.
            if object_type == "companies":
                for deal in self.company_deals.pop(gone, []):
                    del self.deal_company[deal]
                for child in self.company_children.pop(gone, []):
                    del self.company_parent[child]
                parent = self.company_parent.pop(gone, None)
                if parent is not None:
                    self.company_children[parent].remove(gone)
            elif (company := self.deal_company.pop(gone, None)) is not None:
                self.company_deals[company].remove(gone)
            for key in [k for k in self.user_labels if k[2] == gone]:
                del self.user_labels[key]
            del table.records[gone]
            table.ids.remove(gone)
            self.purged.setdefault(object_type, set()).add(gone)
            self.version += 1

    def _not_yet_indexed(self, object_type: str, record_id: int) -> None:
        if self.search_lag_seconds > 0:
            deadline = time.monotonic() + self.search_lag_seconds
            self._unindexed[(object_type, record_id)] = deadline

    def unindexed(self, object_type: str) -> frozenset[int]:
        """Ids of ``object_type`` written too recently for search to see them."""
        with self.lock:
            now = time.monotonic()
            for key in [k for k, deadline in self._unindexed.items() if deadline <= now]:
                del self._unindexed[key]
            return frozenset(i for t, i in self._unindexed if t == object_type)

    def label_association(
        self,
        from_type: str,
        record_id: int | str,
        to_type: str,
        target_id: int | str,
        *,
        type_id: int,
        label: str,
    ) -> None:
        """Associate two records under a user-defined label (category USER_DEFINED)."""
        with self.lock:
            key = (from_type, to_type, int(record_id))
            self.user_labels.setdefault(key, []).append((int(target_id), type_id, label))
            self.version += 1

    def associate_deal(self, deal_id: int | str, company_id: int | str | None) -> None:
        """Point a deal at a company (None removes the association)."""
        with self.lock:
            self.version += 1
            deal = int(deal_id)
            self.deals.live(deal)
            old = self.deal_company.pop(deal, None)
            if old is not None:
                self.company_deals[old].remove(deal)
            if company_id is not None:
                company = int(company_id)
                self.companies.live(company)
                self.deal_company[deal] = company
                self.company_deals.setdefault(company, []).append(deal)

    def set_parent(self, company_id: int | str, parent_id: int | str | None) -> None:
        """Set or remove a company's parent company."""
        with self.lock:
            self.version += 1
            child = int(company_id)
            self.companies.live(child)
            old = self.company_parent.pop(child, None)
            if old is not None:
                self.company_children[old].remove(child)
            if parent_id is not None:
                parent = int(parent_id)
                self.companies.live(parent)
                self.company_parent[child] = parent
                self.company_children.setdefault(parent, []).append(child)

    # -- persistence ------------------------------------------------------------------------

    def changes(self) -> dict[str, Any]:
        """What changed since the seed, as JSON-ready data (for `--data FILE`)."""
        with self.lock:
            tables: dict[str, Any] = {}
            for table in (self.companies, self.deals):
                rows = []
                for record in table.records.values():
                    if record.values is None and record.archived_at is None and record.seed:
                        continue
                    rows.append(
                        {
                            "id": record.id,
                            "seeded": record.seed is not None,
                            "values": record.values or {},
                            "created_at": iso_millis(record.created_at),
                            "updated_at": iso_millis(record.updated_at),
                            "archived_at": None
                            if record.archived_at is None
                            else iso_millis(record.archived_at),
                        }
                    )
                tables[table.object_type] = rows
            return {
                "records": tables,
                "deal_company": {str(k): v for k, v in self.deal_company.items()},
                "company_parent": {str(k): v for k, v in self.company_parent.items()},
                "merged_away": {t: sorted(ids) for t, ids in self.merged_away.items()},
                "purged": {t: sorted(ids) for t, ids in self.purged.items()},
                "user_labels": [
                    [*key, target, type_id, label]
                    for key, links in self.user_labels.items()
                    for target, type_id, label in links
                ],
            }

    def apply_changes(self, changes: Mapping[str, Any]) -> None:
        """Replay `changes()` output on a freshly seeded store."""
        with self.lock:
            self.version += 1
            for object_type, rows in changes.get("records", {}).items():
                table = self.table(object_type)
                for row in rows:
                    record_id = int(row["id"])
                    record = table.records.get(record_id)
                    created = _stamp(row["created_at"])
                    if record is None:
                        record = CrmRecord(record_id, None, created, created)
                        table.add(record)
                        table.ids.sort()
                    record.values = dict(row["values"]) or None
                    record.updated_at = _stamp(row["updated_at"])
                    archived = row.get("archived_at")
                    record.archived_at = None if archived is None else _stamp(archived)
            if "deal_company" in changes:
                self.deal_company = {int(k): int(v) for k, v in changes["deal_company"].items()}
                self.company_deals = {}
                for deal, company in sorted(self.deal_company.items()):
                    self.company_deals.setdefault(company, []).append(deal)
            if "company_parent" in changes:
                self.company_parent = {int(k): int(v) for k, v in changes["company_parent"].items()}
                self.company_children = {}
                for child, parent in sorted(self.company_parent.items()):
                    self.company_children.setdefault(parent, []).append(child)
            for object_type, ids in changes.get("merged_away", {}).items():
                table = self.table(object_type)
                for record_id in ids:
                    if table.records.pop(int(record_id), None) is not None:
                        table.ids.remove(int(record_id))
                    self.merged_away.setdefault(object_type, set()).add(int(record_id))
            for object_type, ids in changes.get("purged", {}).items():
                table = self.table(object_type)
                for record_id in ids:
                    if table.records.pop(int(record_id), None) is not None:
                        table.ids.remove(int(record_id))
                    self.purged.setdefault(object_type, set()).add(int(record_id))
            self.user_labels = {}
            for from_type, to_type, record_id, target, type_id, label in changes.get(
                "user_labels", []
            ):
                key = (str(from_type), str(to_type), int(record_id))
                self.user_labels.setdefault(key, []).append((int(target), int(type_id), str(label)))


def _stamp(text: str) -> datetime:
    parsed = parse_datetime(text)
    if parsed is None:
        raise ValueError(f"bad timestamp in sandbox data file: {text!r}")
    return parsed


def _derive_deal_stage_values(values: dict[str, str | None], stage: str | None) -> None:
    """HubSpot computes these read-only deal properties from the stage."""
    values["hs_is_closed"] = "true" if stage in CLOSED_STAGES else "false"
    values["hs_is_closed_won"] = "true" if stage == "closedwon" else "false"
    values["hs_deal_stage_probability"] = STAGE_PROBABILITY.get(stage or "")
