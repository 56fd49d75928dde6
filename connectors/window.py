"""The incremental window every connector's pull reads, and de-duplication at its moving edge.

A pull asks for records modified in ``[since - look_back, until]``:

* ``since`` is the watermark the engine stored (None: a full pull, everything up to ``until``);
* ``look_back`` re-reads a margin before it, because a CRM may stamp a change with a time that
  becomes visible to queries only a little later (transactions commit after the stamp is set);
* ``until`` is the run's start, so a record changed during the run is read next time and the
  watermark never passes data not yet seen.

Pages come sorted by stamp, then id. When a read has to restart from the last stamp seen (an
expired cursor, a search result cap), records at exactly that stamp arrive again: ``Boundary``
remembers the highest stamp and the ids seen at it, and admits each of them once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from kam_sync_connectors.base import PullRequest

# A stamp as the CRM's records carry it: a datetime (Salesforce) or epoch milliseconds (HubSpot).
Stamp = TypeVar("Stamp", datetime, int)


@dataclass(frozen=True, slots=True)
class IncrementalWindow:
    """Which modifications one pull reads; see the module docstring."""

    since: datetime | None
    until: datetime
    look_back: timedelta = timedelta(0)

    @classmethod
    def of(cls, request: PullRequest, *, look_back_minutes: float) -> IncrementalWindow:
        return cls(request.since, request.until, timedelta(minutes=look_back_minutes))

    @property
    def incremental(self) -> bool:
        return self.since is not None

    @property
    def start(self) -> datetime | None:
        """The earliest modification read: the watermark minus the look-back (None: all)."""
        return None if self.since is None else self.since - self.look_back


@dataclass(slots=True)
class Boundary(Generic[Stamp]):
    """The highest stamp admitted so far and the ids admitted at exactly that stamp."""

    stamp: Stamp | None = None
    ids: set[str] = field(default_factory=set)

    def admit(self, record_id: str, stamp: Stamp | None) -> bool:
        """False for a record already admitted (same id at the boundary stamp), else True.

        A record older than the boundary is admitted: pages are sorted by stamp, so one arrives
        only after a restart from an earlier point, and was not seen since then.
        """
        if stamp is None:
            return True
        if self.stamp is None or stamp > self.stamp:
            self.stamp, self.ids = stamp, {record_id}
            return True
        if stamp == self.stamp:
            if record_id in self.ids:
                return False
            self.ids.add(record_id)
        return True


def reconciliation_due(last: datetime | None, until: datetime, every_days: float) -> bool:
    """True when a boundary of ``every_days`` periods (UTC, from the epoch) lies after ``last``
    and at or before ``until``: the first pull after each boundary lists every id, once.

    ``last`` is when the ids were last reconciled; None (never, or not known) is never due here
    (see ``id_reconciliation_due``). ``every_days`` 0 switches the reconciliation off.
    """
    if last is None or every_days <= 0:
        return False
    period = every_days * 86_400
    return int(last.timestamp() // period) != int(until.timestamp() // period)


def id_reconciliation_due(request: PullRequest, every_days: float) -> bool:
    """Whether an incremental pull ends by listing every id of its object (``Page.existing_ids``).

    Measured from the engine's last reconciliation (``request.ids_reconciled_at``), so a CRM
    where nothing changes, whose watermark stands still, is reconciled once a period, not on
    every run; from the watermark when that is not known (a store from before it was kept). A
    full pull reads everything and lists no ids.
    """
    if request.since is None:
        return False
    last = request.ids_reconciled_at or request.since
    return reconciliation_due(last, request.until, every_days)
