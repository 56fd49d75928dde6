"""HubSpot runs as `kam-sync schedule` makes them, in one long-lived process (issue 14, point 5).
Prints figures; not a test.

`bench_sync.py` times `kam-sync run` processes, each paying the interpreter's start and the
imports (about 1 s). A scheduled run pays them once, when the scheduler starts: each run is the
scheduled job (`scheduled_run`: load the project, then the run), called in this process. Three
runs against one sandbox, as in bench_sync (a first sync, a run with no change, a run after 1 %
of the accounts changed), each once HubSpot's ten-second window is clear; the first sync
includes the imports, as a scheduler's first run does.

    .venv/bin/python bench/bench_scheduled.py --accounts 5000 --tier 250
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench_sync import (
    EXE,
    HUBSPOT_WINDOW_SECONDS,
    calls,
    change_one_percent,
    rate_floor_seconds,
    session_for,
    start_sandbox,
    stats,
)

from kam_sync.cli.demo_cmd import HUBSPOT_DEMO_BLOCK
from kam_sync.cli.project_cmds import create_project


def bench(accounts: int, tier: int) -> list[dict[str, object]]:
    sandbox, info = start_sandbox("hubspot", accounts, 0, tier=tier)
    tmp = Path(tempfile.mkdtemp(prefix="kam-bench-scheduled-"))
    project = tmp / "project"
    rows = []
    try:
        block = HUBSPOT_DEMO_BLOCK.format(base_url=info["base_url"]) + (
            f"    rate_limit_tier: {tier}\n"
        )
        os.environ["KAM_SYNC_HUBSPOT_TOKEN"] = info["credentials"]["access_token"]
        create_project(project, "hubspot", force=True, crm_block=block)
        subprocess.run(
            [EXE, "provision", "--project", str(project)],
            check=True,
            capture_output=True,
            timeout=600,
        )
        s = session_for("hubspot", info)
        for label in ("full sync", "no change", "1 % changed"):
            if label == "1 % changed":
                change_one_percent("hubspot", s, info, project)
            time.sleep(HUBSPOT_WINDOW_SECONDS + 1)
            stats(s, info, reset=True)
            start = time.perf_counter()
            # The scheduler's job, imported as it is when the scheduler starts.
            from kam_sync.cli.schedule_cmd import scheduled_run

            scheduled_run(str(project))
            wall = time.perf_counter() - start
            by_kind = calls(stats(s, info))
            rate_s = rate_floor_seconds(by_kind, tier)
            rows.append(
                {
                    "run": label,
                    "tier": tier,
                    "calls": sum(by_kind.values()),
                    "wall_s": round(wall, 2),
                    "rate_floor_s": round(rate_s, 1),
                    "wall_over_rate_floor": round(wall / rate_s, 2) if rate_s else None,
                    "load_average": round(os.getloadavg()[0], 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    finally:
        sandbox.terminate()
        sandbox.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--tier", type=int, default=250)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = bench(args.accounts, args.tier)
    print()
    print("| run | calls | wall | calls at the rate | wall / that | load |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['run']} | {r['calls']} | {r['wall_s']} s | {r['rate_floor_s']} s "
            f"| {r['wall_over_rate_floor']} | {r['load_average']} |"
        )


if __name__ == "__main__":
    main()
