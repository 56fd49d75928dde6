"""The incremental window (watermark minus look-back, until) and de-duplication at its edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kam_sync_connectors.base import PullRequest
from kam_sync_connectors.window import Boundary, IncrementalWindow

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
