"""A HubSpot run names the portal's company currency, read from the account details
(GET /account-info/v3/details) with one call per run; an app that may not read them still runs,
and explain then names the currency in words as before."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from kam_sync.sandbox.hubspot.seed_values import PortalCurrencies, use_currencies
from kam_sync.sandbox.runner import SandboxHandle
from tests.e2e.crm import kam_sync_cli, sandbox_project

RATES = {"USD": Decimal("0.92")}  # EUR per US dollar


def _run(project: Path, handle: SandboxHandle, env: dict[str, str]) -> dict:
    cli = ("--project", str(project))
    handle.reset_stats()
    ran = kam_sync_cli("run", "--json", *cli, env=env, cwd=project.parent)
    assert ran.returncode in (0, 3), ran.stderr
    summary: dict = json.loads(ran.stdout)
    assert summary["status"] == "ok", summary
    assert summary["api_calls"]["account_info"] == 1
    assert handle.stats()["requests"]["account_info"] == {"GET": 1}
    return summary


def _explain(project: Path, handle: SandboxHandle, env: dict[str, str]) -> tuple[dict, str]:
    account = str(handle.app.store.companies.ids[0])
    cli = ("explain", account, "--project", str(project))
    as_json = kam_sync_cli(*cli, "--json", env=env, cwd=project.parent)
    assert as_json.returncode == 0, as_json.stderr
    as_text = kam_sync_cli(*cli, env=env, cwd=project.parent)
    assert as_text.returncode == 0, as_text.stderr
    return json.loads(as_json.stdout), as_text.stdout


@pytest.mark.slow
def test_the_run_summary_and_explain_name_the_portals_company_currency(tmp_path: Path) -> None:
    project = tmp_path / "project"
    with sandbox_project("hubspot", project, accounts=30, seed=7) as (handle, env):
        use_currencies(handle.app.store, PortalCurrencies("EUR", RATES))
        provision = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provision.returncode == 0, provision.stderr
        summary = _run(project, handle, env)
        assert summary["currency"] == "EUR"
        report, text = _explain(project, handle, env)
        text_run = kam_sync_cli("run", "--project", str(project), env=env, cwd=tmp_path)
    assert report["currency"].startswith("EUR, the HubSpot portal's company currency")
    assert "money figures are in EUR" in text
    assert "money:       in EUR" in text_run.stdout


@pytest.mark.slow
def test_an_app_refused_the_account_details_runs_ok_and_names_the_currency_in_words(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    with sandbox_project("hubspot", project, accounts=30, seed=7) as (handle, env):
        use_currencies(handle.app.store, PortalCurrencies("EUR", {}))
        handle.app.scopes = tuple(s for s in handle.app.scopes if s != "oauth")  # 403
        provision = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provision.returncode == 0, provision.stderr
        summary = _run(project, handle, env)
        report, _ = _explain(project, handle, env)
    assert summary["currency"] is None
    assert summary["accounts_written"] > 0
    assert report["currency"] == "the HubSpot portal's company currency (amount_in_home_currency)"
