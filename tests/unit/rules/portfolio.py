"""Build canonical tables and rule packs for the rules-engine tests from plain data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from kam_sync.canonical import ACCOUNT_SCHEMA, OPPORTUNITY_SCHEMA
from kam_sync.rules import GovernanceHistory, KeyListRun, RulePack, load_rule_pack
from kam_sync.rules.history import ACCOUNT_STATE_SCHEMA

RULES = Path(__file__).resolve().parents[3] / "rules"
RULE_FILES = ("scoring", "governance", "checklist", "stages")
AS_OF = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def default_files() -> dict[str, Path]:
    return {k: RULES / f"{k}.yaml" for k in RULE_FILES}


def pack_with(overrides: Mapping[str, Mapping[str, Any]], folder: Path) -> RulePack:
    """The default pack with top-level sections of some files replaced (``{file: {key: ...}}``)."""
    files = default_files()
    for kind, sections in overrides.items():
        data = yaml.safe_load(files[kind].read_text(encoding="utf-8"))
        data.update(sections)
        target = folder / f"{kind}.yaml"
        target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        files[kind] = target
    pack, issues = load_rule_pack(files)
    assert pack is not None, "\n".join(str(i) for i in issues)
    return pack


def utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _coerce(row: Mapping[str, Any], schema: Mapping[str, pl.DataType]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        assert key in schema, f"unknown column '{key}' in test data"
        dtype = schema[key]
        if value is None:
            out[key] = None
        elif isinstance(dtype, pl.Decimal):
            out[key] = Decimal(str(value))
        elif dtype == pl.Datetime("us", "UTC"):
            out[key] = utc(value)
        elif dtype == pl.Date and isinstance(value, str):
            out[key] = date.fromisoformat(value)
        elif dtype == pl.Float64:
            out[key] = float(value)
        else:
            out[key] = value
    return out


def accounts_frame(rows: list[Mapping[str, Any]]) -> pl.DataFrame:
    coerced = [_coerce(r, ACCOUNT_SCHEMA) for r in rows]
    return pl.DataFrame(coerced, schema=ACCOUNT_SCHEMA)


def opportunities_frame(rows: list[Mapping[str, Any]]) -> pl.DataFrame:
    defaults = {"is_deleted": False}
    coerced = [_coerce({**defaults, **r}, OPPORTUNITY_SCHEMA) for r in rows]
    return pl.DataFrame(coerced, schema=OPPORTUNITY_SCHEMA)


def history_from(data: Mapping[str, Any] | None) -> GovernanceHistory:
    if not data:
        return GovernanceHistory.empty()
    runs = tuple(
        KeyListRun(
            as_of=utc(r["as_of"]),
            key_count=int(r["key_count"]),
            added_count=int(r.get("added_count", 0)),
            removed_count=int(r.get("removed_count", 0)),
        )
        for r in data.get("runs", [])
    )
    state_rows = [{"runs_below": 0, **r} for r in data.get("accounts", [])]
    state = pl.DataFrame(state_rows, schema=ACCOUNT_STATE_SCHEMA)
    return GovernanceHistory(runs=runs, accounts=state)
