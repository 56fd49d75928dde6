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
