"""The run summary's exit code and headline: what monitoring sees."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kam_sync.engine.summary import RunSummary
from kam_sync.errors import ExitCode

AS_OF = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def summary(**values: object) -> RunSummary:
    result = RunSummary(run_id=1, mode="run", as_of=AS_OF, started_at=AS_OF, status="ok")
    for name, value in values.items():
        setattr(result, name, value)
    return result


def test_a_clean_run_is_ok() -> None:
    clean = summary(pulled={"account": 3000, "opportunity": 9000})
    assert clean.exit_code() == ExitCode.OK
    assert clean.headline() == "ok"


def test_a_few_quarantined_records_are_a_warning_not_exit_3() -> None:
    # 48 of 12,000 pulled records (0.4 %) are under the default 1 %.
    few = summary(
        pulled={"account": 3000, "opportunity": 9000}, quarantined={"account": 0, "opportunity": 48}
    )
    assert few.exit_code() == ExitCode.OK
    assert few.headline() == "ok with warnings: 48 records quarantined (0.4 %)"
    assert few.to_json()["exit_code"] == 0


def test_quarantined_records_above_the_limit_make_exit_3() -> None:
    many = summary(pulled={"account": 1000, "opportunity": 1000}, quarantined={"opportunity": 21})
    assert many.exit_code() == ExitCode.RECORD_ERRORS_OR_ALERTS
    assert many.headline() == "attention: 21 records quarantined (1.1 %, above 1 %)"


def test_the_quarantine_limit_is_configurable() -> None:
    strict = summary(
        pulled={"opportunity": 1000}, quarantined={"opportunity": 1}, max_quarantined_percent=0.0
    )
    lax = summary(
        pulled={"opportunity": 100}, quarantined={"opportunity": 30}, max_quarantined_percent=50.0
    )
    assert strict.exit_code() == ExitCode.RECORD_ERRORS_OR_ALERTS
    assert lax.exit_code() == ExitCode.OK


def test_exactly_at_the_limit_is_still_ok() -> None:
    at_limit = summary(pulled={"opportunity": 1000}, quarantined={"opportunity": 10})
    assert at_limit.exit_code() == ExitCode.OK


@pytest.mark.parametrize(
    ("values", "headline"),
    [
        ({"write_failures": 2}, "attention: 2 accounts failed to write"),
        (
            {"alerts": [{"kind": "growth", "message": "m", "accounts": []}]},
            "attention: 1 alert",
        ),
        (
            {"write_failures": 1, "quarantined": {"opportunity": 3}},
            "attention: 1 account failed to write, 3 records quarantined (0.3 %)",
        ),
    ],
)
def test_write_failures_and_alerts_make_exit_3_whatever_the_quarantine(
    values: dict[str, object], headline: str
) -> None:
    result = summary(pulled={"opportunity": 1000}, **values)
    assert result.exit_code() == ExitCode.RECORD_ERRORS_OR_ALERTS
    assert result.headline() == headline


def test_a_quota_stop_keeps_its_code_and_says_so() -> None:
    stopped = summary(status="partial", stopped_reason="quota", quarantined={"account": 500})
    assert stopped.exit_code() == ExitCode.QUOTA_STOP
    assert stopped.headline() == "partial (quota)"
