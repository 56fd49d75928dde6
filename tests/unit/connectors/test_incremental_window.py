"""The incremental window (watermark minus look-back, until) and de-duplication at its edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kam_sync_connectors.base import PullRequest
from kam_sync_connectors.window import Boundary, IncrementalWindow, id_reconciliation_due

UNTIL = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def request(since: datetime | None) -> PullRequest:
    return PullRequest(
        object_name="Account",
        fields=("Name",),
        since=since,
        until=UNTIL,
        id_field="Id",
        modified_field="SystemModstamp",
    )


def test_an_incremental_window_starts_the_look_back_before_the_watermark() -> None:
    watermark = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    window = IncrementalWindow.of(request(watermark), look_back_minutes=10)

    assert window.incremental
    assert window.start == watermark - timedelta(minutes=10)
    assert window.until == UNTIL


def test_a_full_pull_has_no_start() -> None:
    window = IncrementalWindow.of(request(None), look_back_minutes=10)

    assert not window.incremental
    assert window.start is None


def test_a_record_at_the_boundary_stamp_is_admitted_once() -> None:
    boundary: Boundary[int] = Boundary()

    assert boundary.admit("1", 100)
    assert boundary.admit("2", 100)
    # A restart from stamp 100 brings 1 and 2 again, then a new one.
    assert not boundary.admit("1", 100)
    assert not boundary.admit("2", 100)
    assert boundary.admit("3", 100)
    assert (boundary.stamp, boundary.ids) == (100, {"1", "2", "3"})


def test_a_higher_stamp_moves_the_boundary_and_forgets_the_ids_below_it() -> None:
    boundary: Boundary[datetime] = Boundary()
    first = datetime(2026, 3, 1, tzinfo=UTC)

    boundary.admit("1", first)
    assert boundary.admit("1", first + timedelta(seconds=1))  # changed again: a new version

    assert boundary.stamp == first + timedelta(seconds=1)
    assert boundary.ids == {"1"}


def test_records_without_a_stamp_or_below_the_boundary_are_admitted() -> None:
    boundary: Boundary[int] = Boundary()
    boundary.admit("1", 200)

    assert boundary.admit("2", None)
    assert boundary.admit("3", 150)
    assert boundary.stamp == 200


def test_a_quiet_crm_whose_watermark_stands_still_is_reconciled_once_a_period() -> None:
    from dataclasses import replace

    still = UNTIL - timedelta(days=60)  # nothing changed for two months
    week = timedelta(days=7)
    runs = [UNTIL + timedelta(days=n) for n in range(15)]  # nightly runs over two weeks
    reconciled_at = None
    due_on = []
    for until in runs:
        pull = replace(request(still), until=until, ids_reconciled_at=reconciled_at)
        if id_reconciliation_due(pull, 7):
            due_on.append(until)
            reconciled_at = until  # the engine records it

    def period(moment: datetime) -> int:
        return int(moment.timestamp() // week.total_seconds())

    # The first run reconciles (never done before); then one run in each later period.
    assert due_on[0] == runs[0]
    assert [period(d) for d in due_on] == sorted({period(r) for r in runs})


def test_a_full_pull_lists_no_ids_and_a_switched_off_reconciliation_never_does() -> None:
    from dataclasses import replace

    long_ago = UNTIL - timedelta(days=60)
    assert not id_reconciliation_due(replace(request(None), ids_reconciled_at=long_ago), 7)
    assert not id_reconciliation_due(replace(request(long_ago), ids_reconciled_at=long_ago), 0)
    assert id_reconciliation_due(replace(request(long_ago), ids_reconciled_at=long_ago), 7)
