"""Webhook URLs of the alert hooks: checked where they live (the environment), reported at the
``url_env`` line of ``kam-sync.yaml`` with the variable's name, never the URL (chat and incident
tools put a token in it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from kam_sync.config.issues import ConfigIssue
from kam_sync.config.located import load_located
from kam_sync.config.project import ProjectConfig

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def webhook_url_problem(url: str) -> str | None:
    """What is wrong with a webhook URL, without repeating it; None if nothing. Plain http is
    allowed only to this machine (tests, a local relay): the body names accounts."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        return "does not hold a URL (expected https://host/path)"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "does not hold a URL (expected https://host/path)"
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        return "holds a plain http:// URL; webhooks must use https:// (the body names accounts)"
    return None


def webhook_url_issues(
    config: ProjectConfig, project_file: Path, environ: Mapping[str, str]
) -> tuple[list[ConfigIssue], list[str]]:
    """Problems of the webhook URLs set in ``environ`` (at their ``url_env`` lines), and the
    variables that are not set here (a note: the hook would be skipped)."""
    path = project_file
    doc, _syntax = load_located(path)
    issues: list[ConfigIssue] = []
    unset: list[str] = []
    for index, hook in enumerate(config.alerts):
        if hook.type != "webhook" or not hook.url_env:
            continue
        url = environ.get(hook.url_env, "")
        if not url.strip():
            unset.append(hook.url_env)
            continue
        problem = webhook_url_problem(url)
        if problem is None:
            continue
        message = f"url_env: the variable {hook.url_env} {problem}"
        if doc is not None:
            issues.append(doc.issue(("alerts", index, "url_env"), message))
        else:
            issues.append(ConfigIssue(path, None, None, message))
    return issues, unset
