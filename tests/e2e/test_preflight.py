"""`run` and `plan` check the mapping against the CRM before they pull (as `validate` does), and
their exit codes say what monitoring needs: driven through the `kam-sync` command against the
sandbox CRM over HTTP, for both CRMs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.e2e.crm import CrmHands, kam_sync_cli, sandbox_project, write_requests

CRMS = ["salesforce", "hubspot"]
# A standard text field the sandbox fills: Salesforce's Website (url), HubSpot's domain (string,
# which a longtext target's type check accepts: only the ownership rule refuses it).
WEBSITE = {"salesforce": "Website", "hubspot": "domain"}

Edit = Callable[[str], str]


def _mapping(project: Path, crm: str) -> Path:
    return project / "mappings" / f"{crm}.yaml"


def _websites(hands: CrmHands) -> dict[str, Any]:
    """Every account's website, read through the CRM's API."""
    field = WEBSITE[hands.crm]
    out: dict[str, Any] = {}
    if hands.crm == "salesforce":
        url: str | None = (
            f"{hands.handle.base_url}/services/data/v62.0/query?q=SELECT Id, {field} FROM Account"
        )
        while url:
            page = hands.session.get(url, timeout=60).json()
            out.update({r["Id"]: r.get(field) for r in page["records"]})
            nxt = page.get("nextRecordsUrl")
            url = hands.handle.base_url + nxt if nxt else None
        return out
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, "properties": field}
        if after:
            params["after"] = after
        page = hands.session.get(
            f"{hands.handle.base_url}/crm/v3/objects/companies", params=params, timeout=60
        ).json()
        out.update({r["id"]: r["properties"].get(field) for r in page["results"]})
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            return out


def _tier_values_missing(crm: str) -> Edit:
    # The tier picklist in the CRM lacks a value the mapping sends (a restricted picklist
    # rejects every record holding it): validate names KAM_Tier__c / kam_tier.
    old = "strategic: Strategic," if crm == "salesforce" else "strategic: strategic,"
    return lambda text: text.replace(old, "strategic: Platinum,", 1)


def _target_on_website(crm: str) -> Edit:
    # A write-back target pointed at a standard field, which is no longer read as an input.
    old = "crm: KAM_Score_Explanation__c" if crm == "salesforce" else "crm: kam_score_explanation"
    return lambda text: text.replace(old, f"crm: {WEBSITE[crm]}", 1).replace(
        "      domain: domain\n", "", 1
    )


def _misspelt_input(crm: str) -> Edit:
    old, new = (
        ("industry: Industry\n", "industry: Industy\n")
        if crm == "salesforce"
        else ("industry: industry\n", "industry: industy\n")
    )
    return lambda text: text.replace(old, new, 1)


def _employees_from_name(crm: str) -> Edit:
    old, new = (
        ("employees: NumberOfEmployees\n", "employees: Name\n")
        if crm == "salesforce"
        else ("employees: numberofemployees\n", "employees: name\n")
    )
    return lambda text: text.replace(old, new, 1)


CASES: dict[str, tuple[Callable[[str], Edit], dict[str, str]]] = {
    "a picklist target lacking the tier values": (
        _tier_values_missing,
        {"salesforce": "KAM_Tier__c lacks picklist values", "hubspot": "kam_tier lacks"},
    ),
    "a target on the standard website field": (
        _target_on_website,
        {"salesforce": "Website is a standard field", "hubspot": "domain is a standard field"},
    ),
    "a misspelt input field": (
        _misspelt_input,
        {"salesforce": "has no field 'Industy'", "hubspot": "has no field 'industy'"},
    ),
    "employees read from the name": (
        _employees_from_name,
        {"salesforce": "Account.Name is of type", "hubspot": "companies.name is of type"},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_run_and_plan_stop_with_exit_2_before_pulling_when_the_mapping_would_corrupt_writes(
    tmp_path: Path, crm: str
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project, accounts=60) as (handle, env):
        hands = CrmHands.connect(crm, handle)
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )
        mapping = _mapping(project, crm)
        original = mapping.read_text()
        kam_before, websites_before = hands.kam_values(), _websites(hands)
        assert any(websites_before.values()), "the sandbox seeds websites"

        for case, (make_edit, expected) in CASES.items():
            edited = make_edit(crm)(original)
            assert edited != original, case
            mapping.write_text(edited)

            validated = kam_sync_cli("validate", "--project", str(project), env=env, cwd=tmp_path)
            assert validated.returncode == 2, (case, validated.stdout, validated.stderr)
            assert expected[crm] in validated.stderr, (case, validated.stderr)

            for command in (("run",), ("plan", "--format", "json")):
                handle.reset_stats()
                result = kam_sync_cli(*command, "--project", str(project), env=env, cwd=tmp_path)
                assert result.returncode == 2, (case, command, result.stdout, result.stderr)
                # validate's message, with the mapping file's line
                assert expected[crm] in result.stderr, (case, result.stderr)
                assert f"{mapping.name}:" in result.stderr
                stats = handle.stats()
                assert write_requests(stats) == 0, (case, command)
                # stopped before the pull: sign-in, describes and field descriptions only
                assert set(stats["requests"]) <= {"auth", "describe", "tooling"}, (case, stats)

        mapping.write_text(original)
        assert hands.kam_values() == kam_before
        assert _websites(hands) == websites_before, "websites are intact"


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_a_run_describes_each_object_once_and_plan_exits_with_its_json_exit_code(
    tmp_path: Path, crm: str
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project, accounts=60) as (handle, env):
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )

        handle.reset_stats()
        ran = kam_sync_cli("run", "--json", "--project", str(project), env=env, cwd=tmp_path)
        assert ran.returncode in (0, 3), ran.stderr
        summary = json.loads(ran.stdout)
        assert summary["accounts_written"] > 0
        # account and opportunity: one describe each for the whole run (preflight, pull, push)
        assert summary["api_calls"]["describe"] == 2
        assert handle.stats()["requests"]["describe"] == {"GET": 2}
        assert ran.returncode == summary["exit_code"]

        # A tiny quarantine limit: the quarantined deals the sandbox seeds (no account) are
        # above it, so plan exits 3 and its JSON says so.
        project_file = project / "kam-sync.yaml"
        text = project_file.read_text()
        assert "\nsync:\n" in text
        project_file.write_text(
            text.replace("\nsync:\n", "\nsync:\n  max_quarantined_percent: 0\n")
        )
        planned = kam_sync_cli(
            "plan", "--format", "json", "--full", "--project", str(project), env=env, cwd=tmp_path
        )
        payload = json.loads(planned.stdout)
        assert planned.returncode == payload["exit_code"], planned.stderr
        assert sum(payload["quarantined"].values()) > 0, "the sandbox seeds records to quarantine"
        assert planned.returncode == 3
        assert payload["headline"].startswith("attention:")


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_an_opportunity_filter_leaves_filtered_deals_out_of_the_metrics(
    tmp_path: Path, crm: str
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project, accounts=60) as (_handle, env):
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )
        last_plan = project / "state"

        def won_revenue() -> float:
            planned = kam_sync_cli(
                "plan", "--format", "json", "--project", str(project), env=env, cwd=tmp_path
            )
            assert planned.returncode in (0, 3), planned.stderr
            (table,) = last_plan.glob("*plan*.parquet")
            return float(pl.read_parquet(table)["won_amount_12m"].cast(pl.Float64).sum())

        assert won_revenue() > 0
        mapping = _mapping(project, crm)
        text = mapping.read_text()
        anchor = "  opportunity:\n"
        assert anchor in text
        mapping.write_text(
            text.replace(anchor, anchor + '    filter: "NOT is_won AND name IS NOT NULL"\n', 1)
        )
        validated = kam_sync_cli("validate", "--project", str(project), env=env, cwd=tmp_path)
        assert validated.returncode == 0, validated.stderr
        # (name is not a column the metrics read: the filter may use any canonical field)
        assert won_revenue() == 0, "won deals are out of scope: no won revenue"
