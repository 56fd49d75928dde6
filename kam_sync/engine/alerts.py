"""Send a run's alerts to the project's alert hooks: the log, and webhooks.

A webhook's URL comes from the environment variable its hook names (URLs of chat and incident
tools often embed a token), and is never logged. A hook that cannot be reached is logged as an
error; it does not change the run's outcome.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import requests

from kam_sync.config.project import AlertHook
from kam_sync.engine.summary import RunSummary

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_SECONDS = 10.0


def should_alert(summary: RunSummary) -> bool:
    """Alerts are raised for governance alerts, failures, quota stops and write failures."""
    return bool(summary.alerts) or summary.status != "ok" or summary.write_failures > 0


def send_alerts(
    hooks: list[AlertHook],
    summary: RunSummary,
    *,
    project: str,
    environ: Mapping[str, str] | None = None,
) -> None:
    if not should_alert(summary):
        return
    env = os.environ if environ is None else environ
    payload = {
        "project": project,
        "run_id": summary.run_id,
        "status": summary.status,
        "stopped_reason": summary.stopped_reason,
        "exit_code": int(summary.exit_code()),
        "write_failures": summary.write_failures,
        "alerts": summary.alerts,
        "error": summary.error,
    }
    for hook in hooks:
        if hook.type == "log":
            log.warning(
                "run %d %s: %d alerts, %d write failures%s",
                summary.run_id,
                summary.status,
                len(summary.alerts),
                summary.write_failures,
                f" ({summary.error})" if summary.error else "",
            )
            continue
        url = env.get(hook.url_env or "")
        if not url:
            log.error("alert webhook skipped: the environment variable %s is not set", hook.url_env)
            continue
        try:
            response = requests.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS)
            response.raise_for_status()
        except requests.RequestException as exc:
            # The URL may carry a token: name the variable, not the URL.
            log.error("alert webhook from %s failed: %s", hook.url_env, type(exc).__name__)
