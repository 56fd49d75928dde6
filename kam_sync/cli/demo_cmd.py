"""`kam-sync demo`: the whole product against the embedded sandbox CRM, in under a minute."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from kam_sync.cli.project_cmds import create_project
from kam_sync.cli.provision_cmd import provision
from kam_sync.cli.sync_cmds import execute, format_summary
from kam_sync.errors import ExitCode

if TYPE_CHECKING:
    import polars as pl

# Client credentials work only on an org's My Domain (not login/test.salesforce.com); the
# sandbox's https://127.0.0.1:PORT stands for its org's My Domain (sandbox/salesforce/auth.py).
SALESFORCE_DEMO_BLOCK = """\
  salesforce:
    login_url: {base_url}      # the embedded sandbox CRM's My Domain
    auth: client_credentials
    ca_bundle: {ca}
"""
HUBSPOT_DEMO_BLOCK = """\
  hubspot:
    base_url: {base_url}      # the embedded sandbox CRM
    auth: private_app
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="run kam-sync end to end against the embedded sandbox CRM",
        description="Starts the sandbox CRM in-process, seeds a portfolio, creates a project, "
        "provisions the KAM fields, runs the sync, shows the top key accounts, and runs again "
        "to show that nothing is rewritten.",
    )
    demo.add_argument(
        "--crm", choices=("salesforce", "hubspot"), default="salesforce", help="the CRM to emulate"
    )
    demo.add_argument("--accounts", type=int, default=5_000, help="accounts to seed")
    demo.add_argument("--seed", type=int, default=7, help="seed of the generated data")
    demo.add_argument(
        "--dir", type=Path, default=None, help="project folder (default: a new temporary one)"
    )
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from kam_sync.config.loader import load_project
    from kam_sync.sandbox.runner import running_sandbox

    root: Path = args.dir or Path(tempfile.mkdtemp(prefix="kam-sync-demo-"))
    print(
        f"Starting the sandbox {args.crm} CRM with {args.accounts} accounts (seed {args.seed}) ..."
    )
    with running_sandbox(args.crm, accounts=args.accounts, seed=args.seed) as sandbox:
        creds = sandbox.credentials
        if args.crm == "salesforce":
            block = SALESFORCE_DEMO_BLOCK.format(base_url=sandbox.base_url, ca=sandbox.ca_cert_path)
            os.environ["KAM_SYNC_SF_CLIENT_ID"] = creds["client_id"]
            os.environ["KAM_SYNC_SF_CLIENT_SECRET"] = creds["client_secret"]
        else:
            block = HUBSPOT_DEMO_BLOCK.format(base_url=sandbox.base_url)
            os.environ["KAM_SYNC_HUBSPOT_TOKEN"] = creds["access_token"]
        create_project(root, args.crm, force=True, crm_block=block)
        print(
            f"Project: {root}  (credentials for the sandbox are set in this process's environment)"
        )
        project = load_project(root)

        print("\n== provision: create the KAM fields in the CRM")
        code = provision(project)
        if code != ExitCode.OK:
            return code

        print("\n== run 1: pull, score, govern, assess, write back")
        first = execute(project, "run", keep_assessment=True)
        print(format_summary(first.summary))
        if first.assessment is not None:
            print("\n== top key accounts")
            print(_top_accounts(first.assessment.assessments, project.root))

        print("\n== run 2: nothing changed in the CRM, so nothing is written")
        second = execute(project, "run")
        print(format_summary(second.summary))
        print(f"\nState store: {project.config.store.url} in {root}")
        print(f"Try: kam-sync status --project {root}   (the sandbox stops when the demo ends)")
        worst = max(int(first.summary.exit_code()), int(second.summary.exit_code()))
        return ExitCode.OK if worst == ExitCode.RECORD_ERRORS_OR_ALERTS else worst


def _top_accounts(assessments: pl.DataFrame, root: Path, limit: int = 10) -> str:
    import polars as pl

    from kam_sync.config.loader import load_project
    from kam_sync.engine.frames import load_snapshot
    from kam_sync.store import open_store

    project = load_project(root)
    store = open_store(project.config.store.url, root)
    try:
        names = load_snapshot(store, "account").select(pl.col("id").alias("account_id"), "name")
    finally:
        store.close()
    key = set(project.rules.governance.key_tiers)
    top = (
        assessments.filter(pl.col("tier").is_in(list(key)))
        .sort("score", descending=True)
        .head(limit)
        .join(names, on="account_id", how="left")
    )
    lines = [f"  {'account':<20} {'name':<32} {'tier':<10} {'score':>6}  {'stage':<12} checklist"]
    for r in top.iter_rows(named=True):
        completion = r["checklist_completion"]
        lines.append(
            f"  {r['account_id']:<20} {(r['name'] or '')[:32]:<32} {r['tier']:<10} {r['score']:>6.1f}  "
            f"{r['plan_stage'] or '-':<12} {'-' if completion is None else f'{completion:.0f} %'}"
        )
    return "\n".join(lines)
