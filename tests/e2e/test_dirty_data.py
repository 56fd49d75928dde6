"""What a CRM can hold never crashes a run: huge numbers, deleted records without an account,
live deals without one. Driven through the `kam-sync` command against the sandbox, both CRMs."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.crm import ACCOUNT_OBJECT, DEAL_OBJECT, CrmHands, kam_sync_cli, sandbox_project

CRMS = ["salesforce", "hubspot"]
HUGE = 999999999999999999  # the largest Salesforce Currency(18, 0) value (AnnualRevenue)
# Opportunity.Amount is Currency(16, 2): its largest value, cents included.
SF_AMOUNT = Decimal("99999999999999.99")


def _create(hands: CrmHands, obj: str, values: dict[str, Any]) -> str:
    url = hands._url(obj)
    body = values if hands.crm == "salesforce" else {"properties": values}
    response = hands.session.post(url, json=body, timeout=30)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def _deal(crm: str, name: str, amount: str) -> dict[str, Any]:
    if crm == "salesforce":
        return {"Name": name, "StageName": "Prospecting", "CloseDate": "2027-01-31",
                "Amount": amount}  # fmt: skip
    return {"dealname": name, "dealstage": "appointmentscheduled", "amount": amount,
            "closedate": "2027-01-31T00:00:00Z"}  # fmt: skip


def _run(project: Path, env: dict[str, str]) -> None:
    result = kam_sync_cli("run", "--project", str(project), env=env, cwd=project.parent)
    assert result.returncode in (0, 3), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_huge_numbers_and_deals_without_an_account_never_crash_a_run(
    tmp_path: Path, crm: str
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project, accounts=20) as (handle, env):
        hands = CrmHands.connect(crm, handle)
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )
        _run(project, env)
        with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
            big, wide, crowd = (r[0] for r in db.execute(
                "SELECT id FROM account_snapshot WHERE is_deleted = 0 ORDER BY id LIMIT 3"))  # fmt: skip
            deal, archived = (r[0] for r in db.execute(
                "SELECT id FROM opportunity_snapshot WHERE is_deleted = 0 ORDER BY id LIMIT 2"))  # fmt: skip
        revenue, employees = (
            ("AnnualRevenue", "NumberOfEmployees") if crm == "salesforce"
            else ("annualrevenue", "numberofemployees")
        )  # fmt: skip
        hands.update(
            ACCOUNT_OBJECT[crm], big, {revenue: HUGE if crm == "salesforce" else str(HUGE)}
        )
        if crm == "hubspot":
            # HubSpot number properties take any number: beyond what kam-sync keeps exactly.
            hands.update(ACCOUNT_OBJECT[crm], wide, {revenue: "1e30"})
            hands.update(ACCOUNT_OBJECT[crm], crowd, {employees: "1e30"})
            hands.update(DEAL_OBJECT[crm], deal, {"amount": str(HUGE)})
        else:
            hands.update(ACCOUNT_OBJECT[crm], crowd, {employees: 99_999_999})
            hands.update(DEAL_OBJECT[crm], deal, {"Amount": float(SF_AMOUNT)})
        if crm == "salesforce":
            # Opportunity.AccountId is optional: a live deal without an account, and one deleted
            # without ever having one.
            orphan = _create(hands, DEAL_OBJECT[crm], _deal(crm, "No account yet", "100"))
            gone = _create(hands, DEAL_OBJECT[crm], _deal(crm, "Deleted, no account", "200"))
            hands.delete(DEAL_OBJECT[crm], gone)
        else:
            # Deals need no company association; the sandbox's REST API creates no records, so
            # they are made in its store, as the HubSpot UI would.
            store = handle.app.store
            orphan = store.create("deals", _deal(crm, "No company yet", "100"))
            gone = store.create("deals", _deal(crm, "Archived, no company", "200"))
            store.archive("deals", gone)
        # HubSpot returns an archived deal without its associations, so without an account.
        hands.delete(DEAL_OBJECT[crm], archived)
        time.sleep(1.1)  # past the watermark's second

        _run(project, env)
        _run(project, env)  # and the run after it works too

        with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
            stored = dict(db.execute("SELECT id, annual_revenue FROM account_snapshot").fetchall())
            amount = db.execute(
                "SELECT amount FROM opportunity_snapshot WHERE id = ?", (deal,)
            ).fetchone()[0]
            quarantine = {
                (r[0], r[1]): r[2]
                for r in db.execute("SELECT object_name, record_id, reason FROM quarantine")
            }
            deleted_rows = (
                db.execute(
                    "SELECT count(*) FROM opportunity_snapshot WHERE id = ?", (gone,)
                ).fetchone()[0]
                if orphan
                else 0
            )
            archived_deleted = db.execute(
                "SELECT is_deleted FROM opportunity_snapshot WHERE id = ?", (archived,)
            ).fetchone()[0]
            runs = [r[0] for r in db.execute("SELECT status FROM run ORDER BY id")]
    # Salesforce's REST API sends currency as a JSON double (the sandbox does too): what is
    # stored exactly is the number the API sent. HubSpot sends the text as entered.
    sent = (lambda v: Decimal(repr(float(v)))) if crm == "salesforce" else Decimal
    assert Decimal(stored[big]) == sent(HUGE), "stored exactly"
    assert Decimal(amount) == (sent(SF_AMOUNT) if crm == "salesforce" else Decimal(HUGE))
    assert archived_deleted == 1, "the deleted deal left scope by its id alone"
    assert "empty but required" in quarantine[("opportunity", orphan)]
    assert ("opportunity", gone) not in quarantine and deleted_rows == 0
    if crm == "hubspot":
        assert "digits before the decimal point" in quarantine[("account", wide)]
        assert "largest kam-sync stores" in quarantine[("account", crowd)]
    assert runs == ["ok"] * 3
