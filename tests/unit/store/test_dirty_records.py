"""Whatever a CRM page holds never goes against the store's constraints, and governance memory
survives the store between runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from kam_sync.rules import assess_portfolio
from kam_sync.store import open_store
from kam_sync.store.audit import load_history, save_history
from tests.unit.rules.portfolio import accounts_frame, opportunities_frame, pack_with

T0 = datetime(2026, 11, 1, 2, tzinfo=UTC)
SCORE_IS_CONTACTS = (
    Path(__file__).resolve().parents[2] / "fixtures" / "rules_cases" / "_score_is_contacts.yaml"
)


def _opportunity(record_id: str, account_id: str | None, **extra: object) -> dict[str, object]:
    return {
        "id": record_id,
        "account_id": account_id,
        "name": "deal",
        "modified_at": T0,
        "is_deleted": False,
        **extra,
    }


def test_a_deleted_record_without_an_account_only_marks_the_stored_row_deleted(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url, tmp_path)
    store.upsert_snapshot("opportunity", [_opportunity("O1", "A1")])

    later = T0 + timedelta(hours=1)
    store.upsert_snapshot(
        "opportunity",
        [
            _opportunity("O1", None, is_deleted=True, modified_at=later),
            _opportunity("O2", None, is_deleted=True, modified_at=later),  # never stored
        ],
    )

    kept = store.get_record("opportunity", "O1")
    assert kept is not None and kept["is_deleted"] and kept["account_id"] == "A1"
    assert kept["modified_at"] == later
    assert store.get_record("opportunity", "O2") is None
    assert store.count("opportunity") == 0
    store.close()


def test_a_record_repeated_in_one_page_is_stored_once_in_its_latest_version(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url, tmp_path)
    page = [
        _opportunity("O1", "A1", name="newer", modified_at=T0 + timedelta(minutes=5)),
        _opportunity("O1", "A1", name="older"),
        _opportunity("O2", "A1", name="first"),
        _opportunity("O2", "A1", name="second"),  # same time: the later one wins
    ]
    assert store.upsert_snapshot("opportunity", page) == 2
    assert store.get_record("opportunity", "O1")["name"] == "newer"  # type: ignore[index]
    assert store.get_record("opportunity", "O2")["name"] == "second"  # type: ignore[index]
    store.quarantine(
        [
            ("opportunity", "(no id)", "id", "Id is empty"),
            ("opportunity", "(no id)", "id", "again"),
        ],
        run_id=1,
    )
    assert [q.reason for q in store.quarantined()] == ["again"]
    store.close()


def test_growth_alert_flags_stay_on_the_next_run_through_the_stored_history(
    store_url: str, tmp_path: Path
) -> None:
    """The accounts a run added come back from the store, so the standing flag survives it."""
    store = open_store(store_url, tmp_path)
    shared = yaml.safe_load(SCORE_IS_CONTACTS.read_text(encoding="utf-8"))
    shared["governance"]["growth_alert"] = {"window_days": 30, "max_growth_percent": 20}
    pack = pack_with(shared, tmp_path)
    rows = [{"id": a, "contacts_engaged": 70} for a in "ABCD"]
    rows += [{"id": a, "contacts_engaged": 10} for a in "EF"]
    flags_by_run = []
    for run_id, (day, update) in enumerate([(1, {}), (10, {"E": 70, "F": 70}), (11, {})], 1):
        for row in rows:
            row["contacts_engaged"] = update.get(str(row["id"]), row["contacts_engaged"])
        as_of = T0 + timedelta(days=day)
        history = load_history(store)
        result = assess_portfolio(
            accounts_frame(rows), opportunities_frame([]), history, pack, as_of
        )
        with store.transaction() as conn:
            save_history(
                conn,
                store,
                run_id=run_id,
                as_of=as_of,
                result=result,
                previous=history,
                key_tiers=("key",),
            )
        flags_by_run.append(
            {r["account_id"]: r["flags"] for r in result.assessments.iter_rows(named=True)}
        )

    assert flags_by_run[1]["E"] == ["growth_alert"] and flags_by_run[1]["A"] == []
    assert flags_by_run[2]["E"] == ["growth_alert"], "still over the limit on the next run"
    assert flags_by_run[2]["F"] == ["growth_alert"] and flags_by_run[2]["A"] == []
    store.close()
