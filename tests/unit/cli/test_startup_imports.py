"""Starting `kam-sync` loads only what the command needs (issue 14, point 5: a nightly run's
wall time includes its start-up). Each check runs in a fresh interpreter, so what the test
process imported before does not count; nothing here measures time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from kam_sync.cli.main import build_parser
from kam_sync.cli.project_cmds import CrmNames
from kam_sync.engine import backtest
from kam_sync_connectors import registry

# What building the command line once loaded although no command there needs it at start:
# the HTML report (plotly), the review and backtest engine, the sandbox CRM, shell completion
# (shtab), the scheduler, and what only a command's handler needs (the config loader with
# pydantic and polars, the store with SQLAlchemy, the CRM registry, the OS keyring).
NOT_LOADED_BY_THE_COMMAND_LINE = (
    "kam_sync.engine.html_report",
    "kam_sync.engine.report_data",
    "plotly",
    "kam_sync.engine.preview",
    "kam_sync.engine.backtest",
    "kam_sync.engine.report",
    "kam_sync.sandbox",
    "shtab",
    "apscheduler",
    "kam_sync.engine.pipeline",
    "kam_sync.config.loader",
    "kam_sync.config.project",
    "kam_sync.store",
    "kam_sync_connectors.registry",
    "polars",
    "sqlalchemy",
    "pydantic",
    "keyring",
)

# What `kam-sync run` itself never uses (without report.after_run), whatever it pulled.
NOT_LOADED_BY_A_RUN = (
    "kam_sync.engine.html_report",
    "kam_sync.engine.report_data",
    "plotly",
    "kam_sync.engine.preview",
    "kam_sync.engine.backtest",
    "kam_sync.sandbox",
    "shtab",
    "apscheduler.schedulers",  # (the config checks the cron expression with its trigger)
    "apscheduler.jobstores",
)


def loaded_modules(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def among(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules)


def test_building_the_command_line_loads_no_engine_store_connector_or_sandbox() -> None:
    modules = loaded_modules(
        """
        from kam_sync.cli.main import build_parser
        parser = build_parser()
        parser.parse_args(["run", "--project", "somewhere"])
        """
    )
    assert "kam_sync.cli.sync_cmds" in modules  # the check itself looks at the right process
    assert among(modules, NOT_LOADED_BY_THE_COMMAND_LINE) == []


def test_the_version_and_the_help_load_no_command_s_dependencies() -> None:
    modules = loaded_modules(
        """
        import contextlib, io
        from kam_sync.cli.main import main
        for argv in (["--version"], ["--help"], ["run", "--help"], ["backtest", "--help"]):
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(argv) == 0
        """
    )
    assert among(modules, NOT_LOADED_BY_THE_COMMAND_LINE) == []


def test_a_config_error_in_run_loads_no_report_review_or_sandbox_module(tmp_path: object) -> None:
    # `run` on a folder without kam-sync.yaml loads the config loader and stops there.
    modules = loaded_modules(
        f"""
        import contextlib, io
        from kam_sync.cli.main import main
        with contextlib.redirect_stderr(io.StringIO()):
            assert main(["run", "--project", {str(tmp_path)!r}]) == 2
        """
    )
    assert "kam_sync.config.loader" in modules
    assert among(modules, NOT_LOADED_BY_A_RUN) == []


def test_init_offers_the_registered_crms_as_choices() -> None:
    parser = build_parser()
    assert list(CrmNames()) == list(registry.crm_names())
    for crm in registry.crm_names():
        assert parser.parse_args(["init", "--crm", crm]).crm == crm
    assert "hubspot" in CrmNames() and "pipedrive" not in CrmNames()


def test_the_backtest_options_default_to_the_engine_s_defaults() -> None:
    args = build_parser().parse_args(["backtest", "--as-of", "2020-01-01"])
    assert args.horizon_months == backtest.DEFAULT_HORIZON_MONTHS
    assert args.largest_share == backtest.DEFAULT_LARGEST_SHARE
