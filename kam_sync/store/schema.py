"""The store's tables, declared per schema version.

Each ``vN_tables`` function declares what schema version N added. The current schema is all of
them applied in order, and migration N creates exactly what ``vN_tables`` declares, so the
tables the code queries and the tables a migrated store holds cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from kam_sync.store.types import JSONText, Money, UTCDateTime

ID = String(64)


def _kam_output_columns() -> list[Column[object]]:
    """The KAM output fields, typed as in the snapshot."""
    return [
        Column("kam_tier", Text),
        Column("kam_classification", Text),
        Column("kam_score", Float),
        Column("kam_score_explanation", Text),
        Column("kam_plan_stage", Text),
        Column("kam_checklist_completion", Float),
        Column("kam_checklist_gaps", Text),
        Column("kam_flags", JSONText),
        Column("kam_last_assessed", UTCDateTime),
    ]


def v1_tables(md: MetaData) -> list[Table]:
    """Snapshots, watermarks, the run ledger, written values, retry queue, quarantine, history."""
    accounts = Table(
        "account_snapshot",
        md,
        Column("id", ID, primary_key=True),
        Column("name", Text),
        Column("parent_id", ID),
        Column("owner_id", ID),
        Column("industry", Text),
        Column("country", Text),
        Column("region", Text),
        Column("employees", Integer),
        Column("annual_revenue", Money),
        Column("account_type", Text),
        Column("domain", Text),
        Column("created_at", UTCDateTime),
        Column("modified_at", UTCDateTime, nullable=False),
        Column("is_deleted", Boolean, nullable=False, default=False),
        Column("tier_override", Text),
        Column("relationship_strength", Text),
        Column("logo_attractiveness", Text),
        Column("strategic_fit", Text),
        Column("public_company", Boolean),
        Column("executive_sponsor", Text),
        Column("competitors", JSONText),
        Column("contacts_engaged", Integer),
        Column("checklist_answers", JSONText),
        Column("checklist_not_applicable", JSONText),
        Column("account_plan_started", Date),
        Column("last_review_date", Date),
        Column("team_roles", JSONText),
        *_kam_output_columns(),
        Column("snapshot_at", UTCDateTime, nullable=False),
    )
    opportunities = Table(
        "opportunity_snapshot",
        md,
        Column("id", ID, primary_key=True),
        Column("account_id", ID, nullable=False),
        Column("name", Text),
        Column("amount", Money),
        Column("stage", Text),
        Column("is_closed", Boolean),
        Column("is_won", Boolean),
        Column("probability", Float),
        Column("opportunity_type", Text),
        Column("close_date", Date),
        Column("created_at", UTCDateTime),
        Column("modified_at", UTCDateTime, nullable=False),
        Column("is_deleted", Boolean, nullable=False, default=False),
        Column("snapshot_at", UTCDateTime, nullable=False),
    )
    Index("ix_opportunity_account", opportunities.c.account_id)
    watermarks = Table(
        "watermark",
        md,
        Column("object_name", String(64), primary_key=True),
        Column("value", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
    )
    runs = Table(
        "run",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("started_at", UTCDateTime, nullable=False),
        Column("finished_at", UTCDateTime),
        Column("as_of", UTCDateTime, nullable=False),
        Column("mode", String(16), nullable=False),  # run | plan
        Column("status", String(16), nullable=False),  # running | ok | partial | failed
        Column("counts", JSONText),
        Column("api_calls", JSONText),
        Column("alerts", JSONText),
        Column("error", Text),
        # Added by schema version 5 (``ADDED_COLUMNS``): the exit code the run's command ended
        # with (null: not known, e.g. a run whose process was killed).
        Column("exit_code", Integer),
    )
    # What kam-sync last wrote to each account, field by field (null: never written). Compared
    # with the CRM's current value, it tells our own echo from a person's edit.
    written = Table(
        "written_value",
        md,
        Column("account_id", ID, primary_key=True),
        *_kam_output_columns(),
        Column("written_at", UTCDateTime, nullable=False),
        Column("run_id", Integer, nullable=False),
    )
    retry = Table(
        "retry_queue",
        md,
        Column("account_id", ID, primary_key=True),
        Column("field", String(64), primary_key=True),
        Column("value", JSONText),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error_code", String(128)),
        Column("last_error", Text),
        Column("first_failed_at", UTCDateTime, nullable=False),
        Column("last_run_id", Integer, nullable=False),
        Column("dead", Boolean, nullable=False, default=False),
    )
    quarantine = Table(
        "quarantine",
        md,
        Column("object_name", String(32), primary_key=True),
        Column("record_id", ID, primary_key=True),
        Column("field", String(64)),
        Column("reason", Text, nullable=False),
        Column("run_id", Integer, nullable=False),
        Column("quarantined_at", UTCDateTime, nullable=False),
    )
    key_list = Table(
        "key_list_history",
        md,
        Column("run_id", Integer, primary_key=True),
        Column("as_of", UTCDateTime, nullable=False),
        Column("key_count", Integer, nullable=False),
        Column("in_scope_count", Integer, nullable=False),
        Column("added", JSONText, nullable=False),
        Column("removed", JSONText, nullable=False),
    )
    tiers = Table(
        "tier_history",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("account_id", ID, nullable=False),
        Column("run_id", Integer, nullable=False),
        Column("as_of", UTCDateTime, nullable=False),
        Column("old_tier", String(32)),
        Column("new_tier", String(32), nullable=False),
        Column("score", Float),
        Column("reason", Text, nullable=False),
    )
    Index("ix_tier_history_account", tiers.c.account_id, tiers.c.as_of)
    return [accounts, opportunities, watermarks, runs, written, retry, quarantine, key_list, tiers]


def v2_tables(md: MetaData) -> list[Table]:
    """Per-account governance state (anti-flapping counters) and the run lock."""
    governance = Table(
        "governance_state",
        md,
        Column("account_id", ID, primary_key=True),
        Column("state", JSONText, nullable=False),
        Column("updated_run_id", Integer, nullable=False),
    )
    lock = Table(
        "run_lock",
        md,
        Column("name", String(32), primary_key=True),
        Column("holder", Text, nullable=False),
        Column("acquired_at", UTCDateTime, nullable=False),
    )
    return [governance, lock]


def v3_tables(md: MetaData) -> list[Table]:
    """Snapshots keep money as exact decimals of any size a CRM allows (was int64 cents)."""
    return []


def v4_tables(md: MetaData) -> list[Table]:
    """Write-ahead of pushed values, so that a write whose answer never came is known as ours."""
    # Recorded (in its own transaction) before a chunk is pushed: per account, the value of each
    # field about to be sent and ``sent_<field>`` (true: a value is pending, which may be a null,
    # i.e. a clear). A field leaves when its write is recorded in written_value or when the CRM is
    # seen holding it (adopted); a row without any pending field is deleted. A run killed between
    # the CRM's answer and the store's record of it, or a write whose reply was lost while the
    # CRM applied it, leaves values here that the next run recognises as its own. One row per
    # account, not per field: a first write-back of 50,000 accounts records 50,000 rows.
    compared = [c for c in _kam_output_columns() if c.name != "kam_last_assessed"]
    pending = Table(
        "pending_write",
        md,
        Column("account_id", ID, primary_key=True),
        *compared,
        *[Column(f"sent_{c.name}", Boolean, nullable=False, default=False) for c in compared],
        Column("run_id", Integer, nullable=False),
        Column("recorded_at", UTCDateTime, nullable=False),
    )
    return [pending]


def v5_tables(md: MetaData) -> list[Table]:
    """Score history for the report's top movers, and each run's exit code in the ledger."""
    # One row per account and run in which its score changed (the first run records every
    # account): the score at any earlier run is the latest row at or before it. Rows older than
    # ``report.score_history_days`` are pruned, except each account's latest one before that.
    scores = Table(
        "score_history",
        md,
        Column("account_id", ID, primary_key=True),
        Column("run_id", Integer, primary_key=True),
        Column("as_of", UTCDateTime, nullable=False),
        Column("score", Float, nullable=False),
        Column("tier", String(32)),
    )
    Index("ix_score_history_as_of", scores.c.as_of)
    return [scores]


SCHEMA_STEPS = (v1_tables, v2_tables, v3_tables, v4_tables, v5_tables)

# Columns a step added to a table an earlier step declared (the declaration holds them, so a new
# store has them from its first step; the migration adds them to an older store).
ADDED_COLUMNS: dict[object, dict[str, tuple[str, ...]]] = {
    v5_tables: {"run": ("exit_code",)},
}

# Money columns a step converted from the integer cents of earlier versions to ``Money``.
MONEY_CONVERSIONS: dict[object, dict[str, tuple[str, ...]]] = {
    v3_tables: {"account_snapshot": ("annual_revenue",), "opportunity_snapshot": ("amount",)},
}

metadata = MetaData()
for _step in SCHEMA_STEPS:
    _step(metadata)

account_snapshot = metadata.tables["account_snapshot"]
opportunity_snapshot = metadata.tables["opportunity_snapshot"]
watermark = metadata.tables["watermark"]
run = metadata.tables["run"]
written_value = metadata.tables["written_value"]
retry_queue = metadata.tables["retry_queue"]
quarantine = metadata.tables["quarantine"]
key_list_history = metadata.tables["key_list_history"]
tier_history = metadata.tables["tier_history"]
governance_state = metadata.tables["governance_state"]
run_lock = metadata.tables["run_lock"]
pending_write = metadata.tables["pending_write"]
score_history = metadata.tables["score_history"]
