"""Benchmark of whole syncs against the sandbox CRM (issue 7, point 10). Prints figures; not a test.

For each CRM and injected latency it runs, as an ops engineer would, in separate processes:
`kam-sync sandbox serve` (the CRM), `kam-sync provision`, then `kam-sync run` three times:
a full first sync, a run with no change, and a nightly run after 1 % of the accounts changed in
the CRM. It reports the API calls by kind that the sandbox counted, against the theoretical
minimum (reads: pages needed at the largest page size; writes: changed records / largest batch),
wall time, and the peak memory (max RSS) of the `kam-sync run` process.

    .venv/bin/python bench/bench_sync.py --crm both --accounts 50000 --latency 0,20
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kam_sync.cli.demo_cmd import HUBSPOT_DEMO_BLOCK, SALESFORCE_DEMO_BLOCK  # noqa: E402
from kam_sync.cli.project_cmds import create_project  # noqa: E402

EXE = shutil.which("kam-sync", path=str(Path(sys.executable).parent)) or "kam-sync"
PAGE = {"salesforce": 2000, "hubspot": 100}
WRITE_BATCH = {"salesforce": 200, "hubspot": 100}
HUBSPOT_TIER = 250  # requests per 10 s (the API limit increase); search: 5 per s
OVERHEAD_KINDS = ("auth", "describe", "limits", "quota", "metadata", "tooling", "other")


def start_sandbox(
    crm: str, accounts: int, latency_ms: int, tier: int = 0
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [
        EXE,
        "sandbox",
        "serve",
        "--crm",
        crm,
        "--accounts",
        str(accounts),
        "--seed",
        "11",
        "--rate-limit-tier",
        str(tier or HUBSPOT_TIER),
    ]
    if latency_ms:
        cmd += ["--faults", f"latency={latency_ms}ms"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info


def session_for(crm: str, info: dict[str, Any]) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    if crm == "salesforce":
        s.verify = info["ca_cert_path"]
        token = s.post(
            info["base_url"] + "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": info["credentials"]["client_id"],
                "client_secret": info["credentials"]["client_secret"],
            },
            timeout=60,
        ).json()["access_token"]
    else:
        token = info["credentials"]["access_token"]
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def stats(s: requests.Session, info: dict[str, Any], reset: bool = False) -> dict[str, Any]:
    url = info["base_url"] + "/__sandbox/" + ("reset" if reset else "stats")
    r = s.post(url, timeout=60) if reset else s.get(url, timeout=60)
    return r.json() if not reset else {}


def kam_run(project: Path, env: dict[str, str]) -> tuple[dict[str, Any], float, float]:
    """Run `kam-sync run --json`; returns the summary (with ``startup_s``: from starting the
    process to the run's start), wall seconds, peak RSS in MiB."""
    start = time.perf_counter()
    began = time.time()
    proc = subprocess.Popen(
        [EXE, "run", "--json", "--project", str(project)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    summary = json.loads(out) if out.strip() else {"status": f"exit {status}"}
    if summary.get("started_at"):
        started = datetime.fromisoformat(summary["started_at"]).timestamp()
        summary["startup_s"] = round(started - began, 2)
    return summary, wall, usage.ru_maxrss / 1024


# Steps of a run that call the CRM (DESIGN.md): the check before the run (describes), the quota
# check, the pull, the write-back. The others (assess, diff, recording) make no call.
CALLING_STEPS = ("preflight", "start", "pull", "push")


def time_split(summary: dict[str, Any], wall: float) -> dict[str, float]:
    """Where a run's wall time went: starting the process, the steps that call the CRM, the
    steps that do not (assess, diff, record governance), and the rest (recording the run,
    printing, the process ending)."""
    steps = summary.get("step_seconds") or {}
    calling = sum(v for k, v in steps.items() if k in CALLING_STEPS)
    other = sum(v for k, v in steps.items() if k not in CALLING_STEPS)
    startup = float(summary.get("startup_s") or 0.0)
    return {
        "startup_s": round(startup, 2),
        "calling_s": round(calling, 2),
        "engine_s": round(other, 2),
        "rest_s": round(wall - startup - calling - other, 2),
    }


def change_one_percent(crm: str, s: requests.Session, info: dict[str, Any], project: Path) -> int:
    """Another integration edits the relationship strength of 1 % of the accounts."""
    with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
        ids = [
            r[0]
            for r in db.execute("SELECT id FROM account_snapshot WHERE is_deleted = 0 ORDER BY id")
        ]
    chosen = ids[::100]
    base = info["base_url"]
    if crm == "salesforce":
        for i in range(0, len(chosen), 200):
            records = [
                {
                    "attributes": {"type": "Account"},
                    "Id": a,
                    "KAM_Relationship_Strength__c": "Strong",
                }
                for a in chosen[i : i + 200]
            ]
            s.patch(
                base + "/services/data/v62.0/composite/sobjects",
                json={"allOrNone": False, "records": records},
                timeout=120,
            ).raise_for_status()
    else:
        for i in range(0, len(chosen), 100):
            inputs = [
                {"id": a, "properties": {"kam_relationship_strength": "strong"}}
                for a in chosen[i : i + 100]
            ]
            r = s.post(
                base + "/crm/v3/objects/companies/batch/update",
                json={"inputs": inputs},
                timeout=120,
            )
            assert r.status_code in (200, 207), r.text
    return len(chosen)


def calls(st: dict[str, Any]) -> dict[str, int]:
    return {kind: sum(methods.values()) for kind, methods in st["requests"].items()}


# HubSpot's fixed per-run overhead: the quota check (one 1-record list call that reads the daily
# headers), describe of companies and deals (2), the archived sweep's one list page per object
# while nothing is archived (2), and the account details (1: the company currency the default
# mapping's amount_in_home_currency is in). An OAuth run adds one token call.
HUBSPOT_OVERHEAD = 1 + 2 + 2 + 1
# HubSpot counts a call in its ten-second window for ten seconds (the tier's limit); nightly
# runs are hours apart, but these runs follow each other at once, and the next run's first
# calls would meet the last run's in the window (a 429, and a retry's wait in the figures).
# Each run after the first starts once the window is clear, as a nightly run would.
HUBSPOT_WINDOW_SECONDS = 10.0


def minimum(crm: str, accounts: int, opps: int, written: int, full: bool) -> dict[str, Any]:
    """Theoretical minimum calls: reads at the largest page size, writes at the largest batch.

    Salesforce: REST query pages of 2,000; a first pull above 50,000 records is one Bulk API 2.0
    query job (create, one status check, result pages of 10,000). Writes above 2,000 records
    are Bulk API 2.0 ingest jobs of up to 50,000 (create, upload, close, one status check, the
    failed-results list = 5 calls), else sObject Collections of 200.
    HubSpot (the floor of issue 14): list pages of 100 on a first pull, search pages of 200
    after; association reads at 1,000 ids a call (deals -> company, companies -> parent: one
    pseudo-field each); batch updates of 100; plus HUBSPOT_OVERHEAD calls per run.
    """

    def sf_reads(n: int) -> int:
        if full and n > 50_000:
            return 2 + math.ceil(n / 10_000)
        return math.ceil(n / 2_000)

    if crm == "salesforce":
        # An incremental run also reads each object's delete log (Get Deleted): one call each.
        reads = sf_reads(accounts) + sf_reads(opps) + (0 if full else 2)
        writes = 5 * math.ceil(written / 50_000) if written > 2_000 else math.ceil(written / 200)
        return {"reads": reads, "writes": writes}
    page = 100 if full else 200
    pages = math.ceil(accounts / page) + math.ceil(opps / page)
    assoc = math.ceil(accounts / 1_000) + math.ceil(opps / 1_000)
    writes = math.ceil(written / 100)
    floor = pages + assoc + writes + HUBSPOT_OVERHEAD
    formula = (
        f"{'list' if full else 'search'} {pages} + associations {assoc} + writes {writes} "
        f"+ overhead {HUBSPOT_OVERHEAD} = {floor}"
    )
    return {"reads": pages + assoc, "writes": writes, "floor": floor, "formula": formula}


def rate_floor_seconds(by_kind: dict[str, int], tier: int) -> float:
    """Seconds the calls need at HubSpot's allowed rate: ``tier`` per 10 s, search 5 per s."""
    search = by_kind.get("search", 0)
    other = sum(v for k, v in by_kind.items() if k not in ("search", "auth"))
    return other / (tier / 10) + search / 5


def bench(
    crm: str, accounts: int, latency_ms: int, *, tier: int = HUBSPOT_TIER, prefetch: int = -1
) -> list[dict[str, Any]]:
    """Three runs against one sandbox; HubSpot at rate-limit ``tier`` (sandbox and client),
    ``prefetch`` pages fetched ahead (-1: the connector's default)."""
    rows = []
    t0 = time.perf_counter()
    sandbox, info = start_sandbox(crm, accounts, latency_ms, tier=tier)
    seed_s = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="kam-bench-"))
    project = tmp / "project"
    try:
        env = dict(os.environ)
        if crm == "salesforce":
            block = SALESFORCE_DEMO_BLOCK.format(base_url=info["base_url"], ca=info["ca_cert_path"])
            env["KAM_SYNC_SF_CLIENT_ID"] = info["credentials"]["client_id"]
            env["KAM_SYNC_SF_CLIENT_SECRET"] = info["credentials"]["client_secret"]
        else:
            block = (
                HUBSPOT_DEMO_BLOCK.format(base_url=info["base_url"])
                + f"    rate_limit_tier: {tier}\n"
            )
            if prefetch >= 0:
                block += f"    prefetch_pages: {prefetch}\n"
            env["KAM_SYNC_HUBSPOT_TOKEN"] = info["credentials"]["access_token"]
        create_project(project, crm, force=True, crm_block=block)
        subprocess.run(
            [EXE, "provision", "--project", str(project)],
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
        s = session_for(crm, info)
        for label in ("full sync", "no change", "1 % changed"):
            if label == "1 % changed":
                change_one_percent(crm, s, info, project)
            if crm == "hubspot":
                time.sleep(HUBSPOT_WINDOW_SECONDS + 1)
            stats(s, info, reset=True)
            summary, wall, rss = kam_run(project, env)
            st = stats(s, info)
            by_kind = calls(st)
            pulled = summary.get("pulled", {})
            written = summary.get("accounts_written", 0)
            mini = minimum(
                crm,
                pulled.get("account", 0),
                pulled.get("opportunity", 0),
                written,
                label == "full sync",
            )
            # Data calls: everything but the fixed per-run overhead (login, describe, limits).
            data_calls = sum(v for k, v in by_kind.items() if k not in OVERHEAD_KINDS)
            total_calls = sum(by_kind.values())
            extra: dict[str, Any] = {}
            if crm == "hubspot":
                rate_s = rate_floor_seconds(by_kind, tier)
                split = time_split(summary, wall)
                extra = {
                    "tier": tier,
                    "total_calls": total_calls,
                    "floor": mini["floor"],
                    "floor_formula": mini["formula"],
                    "calls_over_floor": round(total_calls / mini["floor"], 3),
                    "rate_floor_s": round(rate_s, 1),
                    "wall_over_rate_floor": round(wall / rate_s, 2) if rate_s else None,
                    **split,
                    "calling_over_rate_floor": (
                        round(split["calling_s"] / rate_s, 2) if rate_s else None
                    ),
                }
            rows.append(
                {
                    "crm": crm,
                    "latency_ms": latency_ms,
                    "run": label,
                    "status": summary.get("status"),
                    "pulled": pulled,
                    "written": written,
                    "calls": by_kind,
                    "data_calls": data_calls,
                    "min_reads": mini["reads"],
                    "min_writes": mini["writes"],
                    "wall_s": round(wall, 1),
                    "peak_rss_mib": round(rss),
                    "peak_rss_mb": round(rss * 1024 * 1024 / 1e6),  # decimal MB, as targets say
                    "sandbox_start_s": round(seed_s, 1),
                    "load_average": round(os.getloadavg()[0], 1),
                    **extra,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def pull_at_rate_limit(accounts: int, tier: int) -> dict[str, Any]:
    """The HubSpot connector alone (no engine) pulling every company and deal with their
    association pseudo-fields from a sandbox at rate-limit ``tier``: wall time against the
    time its calls need at the allowed rate (the connector's own pacing, nothing else)."""
    from datetime import UTC, datetime

    from kam_sync_connectors.base import PullRequest
    from kam_sync_connectors.hubspot.connector import HubSpotConnector
    from kam_sync_connectors.hubspot.settings import HubSpotSettings

    sandbox, info = start_sandbox("hubspot", accounts, 0, tier=tier)
    try:
        s = session_for("hubspot", info)
        settings = HubSpotSettings.model_validate(
            {"base_url": info["base_url"], "rate_limit_tier": tier}
        )
        env = {"KAM_SYNC_HUBSPOT_TOKEN": info["credentials"]["access_token"]}
        connector = HubSpotConnector(settings, env)
        stats(s, info, reset=True)
        started = time.perf_counter()
        pulled = {}
        for obj, fields in (
            ("companies", ("name", "annualrevenue", "@associations.parent_company")),
            ("deals", ("dealname", "amount_in_home_currency", "@associations.companies")),
        ):
            request = PullRequest(
                object_name=obj,
                fields=fields,
                since=None,
                until=datetime.now(UTC),
                id_field="hs_object_id",
                modified_field="hs_lastmodifieddate",
                deleted_field="archived",
            )
            pulled[obj] = sum(len(p.records) for p in connector.pull(request))
        wall = time.perf_counter() - started
        by_kind = calls(stats(s, info))
        rate_s = rate_floor_seconds(by_kind, tier)
        row = {
            "tier": tier,
            "pulled": pulled,
            "calls": by_kind,
            "total_calls": sum(by_kind.values()),
            "wall_s": round(wall, 1),
            "rate_floor_s": round(rate_s, 1),
            "wall_over_rate_floor": round(wall / rate_s, 2),
        }
        print(json.dumps(row), flush=True)
        return row
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crm", choices=("salesforce", "hubspot", "both"), default="both")
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument(
        "--latency", default="0,20", help="comma-separated injected latencies in ms"
    )
    parser.add_argument(
        "--tier",
        type=int,
        default=HUBSPOT_TIER,
        help="HubSpot: rate-limit tier of the sandbox and the client (100, 190 or 250)",
    )
    parser.add_argument(
        "--prefetch-pages",
        type=int,
        default=-1,
        help="HubSpot: crm.hubspot.prefetch_pages for the runs (-1: the connector's default)",
    )
    parser.add_argument(
        "--pull-only-tier",
        type=int,
        default=0,
        help="HubSpot only: time the connector alone pulling everything at this rate-limit "
        "tier (100, 190 or 250) instead of whole runs",
    )
    args = parser.parse_args()
    if args.pull_only_tier:
        pull_at_rate_limit(args.accounts, args.pull_only_tier)
        return
    crms = ["salesforce", "hubspot"] if args.crm == "both" else [args.crm]
    rows = []
    for crm in crms:
        for latency in (int(x) for x in args.latency.split(",")):
            rows += bench(crm, args.accounts, latency, tier=args.tier, prefetch=args.prefetch_pages)
    hub = [r for r in rows if r["crm"] == "hubspot"]
    if hub:
        print()
        print(
            "| latency | run | pulled (acc/opp) | written | calls by kind | calls | floor "
            "(formula) | calls / floor | wall | calls at the rate limit | wall / that | "
            "wall: start-up + calling steps + engine + rest | calling steps / rate | "
            "peak RSS MiB |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in hub:
            p = r["pulled"]
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
            print(
                f"| {r['latency_ms']} ms | {r['run']} | {p.get('account', 0)}/"
                f"{p.get('opportunity', 0)} | {r['written']} | {kinds} | {r['total_calls']} | "
                f"{r['floor_formula']} | {r['calls_over_floor']} | {r['wall_s']} s | "
                f"{r['rate_floor_s']} s | {r['wall_over_rate_floor']} | "
                f"{r['startup_s']} + {r['calling_s']} + {r['engine_s']} + {r['rest_s']} s | "
                f"{r['calling_over_rate_floor']} | {r['peak_rss_mib']} |"
            )
    print()
    print(
        "| CRM | latency | run | pulled (acc/opp) | written | data calls by kind | data calls "
        "| minimum (reads + writes) | wall | peak RSS MiB (MB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p = r["pulled"]
        kinds = ", ".join(
            f"{k} {v}" for k, v in sorted(r["calls"].items()) if k not in OVERHEAD_KINDS
        )
        print(
            f"| {r['crm']} | {r['latency_ms']} ms | {r['run']} | "
            f"{p.get('account', 0)}/{p.get('opportunity', 0)} | {r['written']} | {kinds} | "
            f"{r['data_calls']} | {r['min_reads'] + r['min_writes']} "
            f"({r['min_reads']} + {r['min_writes']}) | {r['wall_s']} s | "
            f"{r['peak_rss_mib']} ({r['peak_rss_mb']}) |"
        )


if __name__ == "__main__":
    main()
