"""Test-side hands in the sandbox CRM: what a person (or another integration) does there.

Everything goes through the CRM's own REST API over HTTP, as it would against the real CRM.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from kam_sync.cli.demo_cmd import HUBSPOT_DEMO_BLOCK, SALESFORCE_DEMO_BLOCK
from kam_sync.cli.project_cmds import create_project
from kam_sync.sandbox.runner import SandboxHandle, running_sandbox

SF_API = "/services/data/v62.0"
KAM_FIELDS = {
    "salesforce": [
        "KAM_Tier__c",
        "KAM_Classification__c",
        "KAM_Score__c",
        "KAM_Score_Explanation__c",
        "KAM_Plan_Stage__c",
        "KAM_Checklist_Completion__c",
        "KAM_Checklist_Gaps__c",
        "KAM_Flags__c",
    ],
    "hubspot": [
        "kam_tier",
        "kam_classification",
        "kam_score",
        "kam_score_explanation",
        "kam_plan_stage",
        "kam_checklist_completion",
        "kam_checklist_gaps",
        "kam_flags",
    ],
}
ACCOUNT_OBJECT = {"salesforce": "Account", "hubspot": "companies"}
DEAL_OBJECT = {"salesforce": "Opportunity", "hubspot": "deals"}
TIER_FIELD = {"salesforce": ("KAM_Tier__c", "Key"), "hubspot": ("kam_tier", "key")}


@dataclass
class CrmHands:
    crm: str
    handle: SandboxHandle
    session: requests.Session

    @classmethod
    def connect(cls, crm: str, handle: SandboxHandle) -> CrmHands:
        session = handle.requests_session()
        if crm == "salesforce":
            token = session.post(
                handle.base_url + "/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": handle.credentials["client_id"],
                    "client_secret": handle.credentials["client_secret"],
                },
                timeout=30,
            ).json()["access_token"]
        else:
            token = handle.credentials["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        return cls(crm, handle, session)

    def _url(self, obj: str, record_id: str = "") -> str:
        if self.crm == "salesforce":
            return f"{self.handle.base_url}{SF_API}/sobjects/{obj}/{record_id}".rstrip("/")
        return f"{self.handle.base_url}/crm/v3/objects/{obj}/{record_id}".rstrip("/")

    def update(self, obj: str, record_id: str, values: dict[str, Any]) -> None:
        body = values if self.crm == "salesforce" else {"properties": values}
        response = self.session.patch(self._url(obj, record_id), json=body, timeout=30)
        assert response.status_code in (200, 204), response.text

    def delete(self, obj: str, record_id: str) -> None:
        response = self.session.delete(self._url(obj, record_id), timeout=30)
        assert response.status_code in (200, 204), response.text

    def kam_values(self) -> dict[str, dict[str, Any]]:
        """Every live account's KAM output fields, read through the CRM's API."""
        fields = KAM_FIELDS[self.crm]
        out: dict[str, dict[str, Any]] = {}
        if self.crm == "salesforce":
            soql = f"SELECT Id, {', '.join(fields)} FROM Account"
            url: str | None = f"{self.handle.base_url}{SF_API}/query?q={soql}"
            while url:
                page = self.session.get(url, timeout=60).json()
                for r in page["records"]:
                    out[r["Id"]] = {f: r.get(f) for f in fields}
                nxt = page.get("nextRecordsUrl")
                url = self.handle.base_url + nxt if nxt else None
            return out
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, "properties": ",".join(fields)}
            if after:
                params["after"] = after
            page = self.session.get(self._url("companies"), params=params, timeout=60).json()
            for r in page["results"]:
                out[r["id"]] = {f: r["properties"].get(f) for f in fields}
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                return out


def write_requests(stats: dict[str, Any]) -> int:
    """Write calls the sandbox received: record writes, collections, batch updates, bulk jobs."""
    requests_by_kind: dict[str, dict[str, int]] = stats.get("requests", {})
    return sum(sum(requests_by_kind.get(kind, {}).values()) for kind in ("write", "bulk"))


@contextmanager
def sandbox_project(
    crm: str,
    root: Path,
    *,
    accounts: int = 120,
    seed: int = 3,
    faults: str | None = None,
    kam_inputs: bool = True,
) -> Iterator[tuple[SandboxHandle, dict[str, str]]]:
    """A running sandbox and a kam-sync project pointing at it; yields the env for the CLI.
    ``kam_inputs=False``: an org without the KAM input fields, as a new customer's is."""
    with running_sandbox(
        crm, accounts=accounts, seed=seed, faults=faults, kam_inputs=kam_inputs
    ) as handle:
        env = dict(os.environ)
        if crm == "salesforce":
            block = SALESFORCE_DEMO_BLOCK.format(base_url=handle.base_url, ca=handle.ca_cert_path)
            env["KAM_SYNC_SF_CLIENT_ID"] = handle.credentials["client_id"]
            env["KAM_SYNC_SF_CLIENT_SECRET"] = handle.credentials["client_secret"]
        else:
            block = HUBSPOT_DEMO_BLOCK.format(base_url=handle.base_url)
            env["KAM_SYNC_HUBSPOT_TOKEN"] = handle.credentials["access_token"]
        create_project(root, crm, force=True, crm_block=block)
        yield handle, env


def kam_sync_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("kam-sync", path=str(Path(sys.executable).parent)) or "kam-sync"
    return subprocess.run(
        [exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def kam_sync_popen(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    exe = shutil.which("kam-sync", path=str(Path(sys.executable).parent)) or "kam-sync"
    return subprocess.Popen(
        [exe, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
