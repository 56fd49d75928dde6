"""The write plan: only what differs, at each field's precision; people's edits protected."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from kam_sync.config.mapping import WriteBackTarget
from kam_sync.writeback import diff
from kam_sync.writeback.diff import MANUAL_OVERRIDE, plan_writes

AS_OF = datetime(2026, 11, 27, 2, tzinfo=UTC)
TARGETS = {
    "kam_tier": WriteBackTarget(crm="KAM_Tier__c", type="picklist"),
    "kam_score": WriteBackTarget(crm="KAM_Score__c", type="number", precision=5, scale=1),
    "kam_score_explanation": WriteBackTarget(crm="KAM_Why__c", type="longtext", length=10),
    "kam_flags": WriteBackTarget(crm="KAM_Flags__c", type="multipicklist"),
    "kam_last_assessed": WriteBackTarget(crm="KAM_Last__c", type="datetime"),
}
FIELDS = ("kam_tier", "kam_score", "kam_score_explanation", "kam_flags")


def desired(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "account_id": r["id"],
                "tier": r.get("tier", "strategic"),
                "score": r.get("score", 80.04),
                "score_explanation": r.get("why", "revenue 40; growth 12"),
                "flags": r.get("flags", []),
            }
            for r in rows
        ],
        schema={
            "account_id": pl.Utf8,
            "tier": pl.Utf8,
            "score": pl.Float64,
            "score_explanation": pl.Utf8,
            "flags": pl.List(pl.Utf8),
        },
    )


def kam_values(rows: list[dict[str, Any]], key: str) -> pl.DataFrame:
    schema = {
        key: pl.Utf8,
        "kam_tier": pl.Utf8,
        "kam_score": pl.Float64,
        "kam_score_explanation": pl.Utf8,
        "kam_flags": pl.List(pl.Utf8),
    }
    if key == "id":
        schema["name"] = pl.Utf8
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


def written_as_crm_holds(ids: list[str]) -> list[dict[str, Any]]:
    # What the CRM holds after our write: the score at one decimal, the text cut to 10.
    return [
        {
            "id": i,
            "account_id": i,
            "kam_tier": "strategic",
            "kam_score": 80.0,
            "kam_score_explanation": "revenue 40",
            "kam_flags": [],
        }
        for i in ids
    ]


def plan(
    want: pl.DataFrame, have: list[dict[str, Any]], wrote: list[dict[str, Any]], **kw: Any
) -> diff.WritePlan:
    return plan_writes(
        want,
        kam_values(have, "id"),
        kam_values(wrote, "account_id"),
        TARGETS,
        as_of=AS_OF,
        overwrite_manual_default=kw.pop("overwrite", False),
        **kw,
    )


def test_a_first_write_sends_every_field_with_the_assessment_stamp() -> None:
    result = plan(desired([{"id": "A"}]), [{"id": "A"}], [])

    assert result.updates == {
        "A": {
            "kam_tier": "strategic",
            "kam_score": 80.0,
            "kam_score_explanation": "revenue 40",  # cut to the field's 10
            "kam_flags": [],
            "kam_last_assessed": AS_OF,
        }
    }
    assert not result.protected


def test_values_equal_at_the_fields_precision_cost_no_write() -> None:
    # 80.04 is 80.0 at one decimal; the explanation cut to 10 characters is what the CRM holds.
    ids = ["A", "B"]
    held = written_as_crm_holds(ids)

    result = plan(desired([{"id": i} for i in ids]), held, held)

    assert result.updates == {} and result.protected == []


def test_only_the_changed_field_is_written_with_the_stamp() -> None:
    held = written_as_crm_holds(["A", "B"])

    result = plan(desired([{"id": "A"}, {"id": "B", "tier": "key"}]), held, held)

    assert result.updates == {"B": {"kam_tier": "key", "kam_last_assessed": AS_OF}}
    assert result.current == {"B": {"kam_tier": "strategic"}}
    assert result.changes_by_field() == {"kam_last_assessed": 1, "kam_tier": 1}


def test_a_value_a_person_changed_is_protected_and_flagged() -> None:
    wrote = written_as_crm_holds(["A"])
    have = [{**wrote[0], "kam_tier": "key"}]  # a person set it to key in the CRM

    result = plan(desired([{"id": "A"}]), have, wrote)

    assert [(p.account_id, p.field, p.current, p.desired) for p in result.protected] == [
        ("A", "kam_tier", "key", "strategic")
    ]
    # The tier is left alone; the account's flags say why.
    assert result.updates == {"A": {"kam_flags": [MANUAL_OVERRIDE], "kam_last_assessed": AS_OF}}


def test_a_field_set_to_overwrite_takes_a_person_s_edit_back() -> None:
    wrote = written_as_crm_holds(["A"])
    have = [{**wrote[0], "kam_tier": "key"}]
    targets = {
        **TARGETS,
        "kam_tier": TARGETS["kam_tier"].model_copy(update={"overwrite_manual_edits": True}),
    }

    result = plan_writes(
        desired([{"id": "A"}]),
        kam_values(have, "id"),
        kam_values(wrote, "account_id"),
        targets,
        as_of=AS_OF,
        overwrite_manual_default=False,
    )

    assert result.updates == {"A": {"kam_tier": "strategic", "kam_last_assessed": AS_OF}}
    assert not result.protected


def test_excluded_pairs_are_not_written() -> None:
    held = written_as_crm_holds(["A"])

    result = plan(desired([{"id": "A", "tier": "key"}]), held, held, excluded={("A", "kam_tier")})

    assert result.updates == {}


@pytest.mark.parametrize("slice_rows", [1, 3, 7])
def test_the_plan_does_not_depend_on_the_slice_size(
    slice_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [f"A{i:02d}" for i in range(20)]
    wrote = written_as_crm_holds(ids)
    have = [
        {**w, "kam_tier": "key"} if i % 5 == 0 else {**w, "kam_score": None} if i % 3 == 0 else w
        for i, w in enumerate(wrote)
    ]
    want = desired(
        [{"id": i, "tier": "key" if n % 4 == 0 else "strategic"} for n, i in enumerate(ids)]
    )
    whole = plan(want, have, wrote)
    assert whole.updates and whole.protected  # the case exercises writes and protection

    monkeypatch.setattr(diff, "DIFF_SLICE_ROWS", slice_rows)
    sliced = plan(want, have, wrote)

    assert list(sliced.updates.items()) == list(whole.updates.items())
    assert sliced.protected == whole.protected
    assert sliced.current == whole.current


# -- our own writes, recognised (issue 11, point 1) -----------------------------------------------


def pending_values(rows: dict[str, dict[str, Any]]) -> pl.DataFrame:
    """Values recorded before a push, as ``store.writes.load_pending`` returns them."""
    frame = kam_values([{"account_id": a, **v} for a, v in rows.items()], "account_id")
    return frame.with_columns(
        pl.Series(f"sent_{f}", [f in v for v in rows.values()], dtype=pl.Boolean) for f in FIELDS
    )


def test_a_value_the_crm_applied_before_a_kill_is_ours_and_adopted() -> None:
    # The run sent tier "key" and died before recording the CRM's answer: the store still has
    # "strategic" as last written, the CRM holds "key", and "key" is still what is wanted.
    wrote = written_as_crm_holds(["A"])
    have = [{**wrote[0], "kam_tier": "key"}]

    result = plan(
        desired([{"id": "A", "tier": "key"}]),
        have,
        wrote,
        pending=pending_values({"A": {"kam_tier": "key"}}),
    )

    assert result.updates == {} and result.protected == []
    assert result.adopted == {"A": {"kam_tier": "key"}}


def test_a_lost_reply_is_not_taken_for_a_person_s_edit_once_the_wanted_value_moves_on() -> None:
    # The reply was lost while the CRM applied "key"; a later data change wants "watchlist".
    wrote = written_as_crm_holds(["A"])
    have = [{**wrote[0], "kam_tier": "key", "kam_score": 61.0}]

    result = plan(
        desired([{"id": "A", "tier": "watchlist", "score": 55.0}]),
        have,
        wrote,
        pending=pending_values({"A": {"kam_tier": "key", "kam_score": 61.0}}),
    )

    assert result.protected == []
    assert result.updates == {
        "A": {"kam_tier": "watchlist", "kam_score": 55.0, "kam_last_assessed": AS_OF}
    }
    assert result.adopted == {"A": {"kam_tier": "key", "kam_score": 61.0}}


def test_a_crm_value_equal_to_the_wanted_one_is_adopted_though_never_recorded() -> None:
    # Killed between the CRM's answer and the store's record, on an account never written before.
    result = plan(desired([{"id": "A"}]), written_as_crm_holds(["A"]), [])

    assert result.updates == {}
    assert result.adopted == {
        "A": {
            "kam_tier": "strategic",
            "kam_score": 80.0,
            "kam_score_explanation": "revenue 40",
            "kam_flags": [],
        }
    }


def test_a_pending_value_is_compared_at_the_fields_precision() -> None:
    # The CRM keeps one decimal: 61.04 sent, 61.0 held.
    wrote = written_as_crm_holds(["A"])
    have = [{**wrote[0], "kam_score": 61.0}]

    result = plan(
        desired([{"id": "A", "score": 40.0}]),
        have,
        wrote,
        pending=pending_values({"A": {"kam_score": 61.04}}),
    )

    assert result.protected == []
    assert result.updates["A"]["kam_score"] == 40.0


def test_a_person_s_edit_is_still_protected_when_a_different_value_was_pending() -> None:
    wrote = written_as_crm_holds(["A"])
    have = [{**wrote[0], "kam_tier": "watchlist"}]  # neither written, pending nor wanted

    result = plan(
        desired([{"id": "A", "tier": "key"}]),
        have,
        wrote,
        pending=pending_values({"A": {"kam_tier": "key"}}),
    )

    assert [(p.account_id, p.field, p.current) for p in result.protected] == [
        ("A", "kam_tier", "watchlist")
    ]
    assert "kam_tier" not in result.updates["A"]
    assert result.updates["A"]["kam_flags"] == [MANUAL_OVERRIDE]
    assert result.adopted == {}


def test_an_echo_of_our_last_write_is_neither_adopted_nor_written() -> None:
    held = written_as_crm_holds(["A"])

    result = plan(
        desired([{"id": "A"}]), held, held, pending=pending_values({"A": {"kam_tier": "key"}})
    )

    assert result.updates == {} and result.protected == [] and result.adopted == {}


# -- out of scope means cleared (issue 11, point 8) ---------------------------------------------


def test_an_account_that_left_scope_has_the_values_kam_sync_wrote_cleared() -> None:
    held = written_as_crm_holds(["A", "B"])
    have = [{**h, "name": f"Account {h['id']}"} for h in held]

    result = plan(desired([{"id": "A"}]), have, held)

    assert result.updates == {
        "B": {
            "kam_tier": None,
            "kam_score": None,
            "kam_score_explanation": None,
            "kam_flags": None,
            "kam_last_assessed": None,
        }
    }
    assert [(a.account_id, a.name, a.action) for a in result.out_of_scope] == [
        ("B", "Account B", "clear")
    ]


def test_out_of_scope_keep_leaves_the_values_and_still_lists_the_account() -> None:
    held = written_as_crm_holds(["A", "B"])

    result = plan(desired([{"id": "A"}]), held, held, out_of_scope="keep")

    assert result.updates == {}
    assert [(a.account_id, a.action) for a in result.out_of_scope] == [("B", "keep")]


def test_a_person_s_edit_on_an_account_out_of_scope_is_protected() -> None:
    wrote = written_as_crm_holds(["B"])
    have = [{**wrote[0], "kam_tier": "key"}]

    result = plan(desired([]), have, wrote)

    assert [(p.account_id, p.field, p.current) for p in result.protected] == [
        ("B", "kam_tier", "key")
    ]
    assert result.updates["B"]["kam_flags"] == [MANUAL_OVERRIDE]
    assert result.updates["B"]["kam_score"] is None
    assert "kam_tier" not in result.updates["B"]


def test_values_kam_sync_never_wrote_on_an_account_out_of_scope_are_left_alone() -> None:
    have = [{"id": "C", "kam_tier": "key"}]  # set by a person; never in kam-sync's scope

    result = plan(desired([]), have, [])

    assert result.updates == {} and result.protected == [] and result.out_of_scope == []


def test_a_clear_whose_reply_was_lost_is_recognised_and_adopted() -> None:
    wrote = written_as_crm_holds(["B"])
    have = [{"id": "B"}]  # the CRM applied the clear
    sent = {"kam_tier": None, "kam_score": None, "kam_score_explanation": None, "kam_flags": None}

    result = plan(desired([]), have, wrote, pending=pending_values({"B": sent}))

    assert result.updates == {} and result.protected == []
    assert result.adopted == {"B": sent}


def test_accounts_gone_from_the_crm_are_forgotten_not_written() -> None:
    held = written_as_crm_holds(["A", "Z"])

    result = plan(
        desired([{"id": "A"}]),
        held[:1],
        held,
        pending=pending_values({"Y": {"kam_tier": "key"}}),
    )

    assert result.updates == {}
    assert result.forgotten == ["Y", "Z"]


def test_multi_select_values_compare_as_sets_and_an_empty_one_is_not_none() -> None:
    # The CRM hands a multi-select's values back in its own order, perhaps repeated: the same
    # values are no change. An empty selection the CRM holds is not the same as no value.
    wanted = desired(
        [
            {"id": "A", "flags": ["stale_plan", "over_cap"]},
            {"id": "B", "flags": ["over_cap"]},
            {"id": "C", "flags": []},
            {"id": "D", "flags": []},
        ]
    )
    held = written_as_crm_holds(["A", "B", "C", "D"])
    held[0]["kam_flags"] = ["over_cap", "stale_plan", "over_cap"]
    held[1]["kam_flags"] = ["over_cap", "stale_plan"]
    held[3]["kam_flags"] = None
    wrote = [dict(row) for row in held]  # each value as kam-sync last wrote it

    result = plan(wanted, held, wrote)

    assert result.updates == {
        "B": {"kam_flags": ["over_cap"], "kam_last_assessed": AS_OF},
        "D": {"kam_flags": [], "kam_last_assessed": AS_OF},
    }
    assert result.protected == []
