"""Send a run's alerts to the project's alert hooks: the log, and webhooks.

A webhook's URL comes from the environment variable its hook names (URLs of chat and incident
tools often embed a token), and is never logged: messages name the variable. A webhook body is
one of three formats: ``generic`` JSON, ``slack`` (an incoming-webhook message) or ``teams`` (a
Teams workflow message with an Adaptive Card); chat formats name the accounts with links to their
records. The account names go to the webhook only, never to the log or the run ledger.

Delivery is bounded: one total time limit per hook (``timeout_seconds``) covers connecting,
a server that answers one byte at a time, and the retries of connection errors, 429 and 5xx;
a redirect is followed only to the same scheme, host and port (a 307/308, at most
``MAX_REDIRECTS`` times), never to another host. A hook that fails is logged as an error; it
does not change the run's outcome.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from kam_sync.config.alert_urls import webhook_url_problem
from kam_sync.config.project import AlertHook
from kam_sync.engine.summary import RunSummary

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
_REDIRECTS_FOLLOWED = (307, 308)  # the ones that repeat the POST as it was
_RETRIED = (408, 425, 429, 500, 502, 503, 504)


@dataclass(frozen=True, slots=True)
class AccountRef:
    """An account an alert names: its id, its name and its record's address in the CRM."""

    id: str
    name: str | None = None
    url: str | None = None


# Looks up the accounts an alert names (the store's names, the connector's record URLs).
AccountLookup = Callable[[Sequence[str]], list[AccountRef]]


def should_alert(summary: RunSummary) -> bool:
    """Alerts are raised for governance alerts, failures, quota stops and write failures."""
    return bool(summary.alerts) or summary.status != "ok" or summary.write_failures > 0


def send_alerts(
    hooks: list[AlertHook],
    summary: RunSummary,
    *,
    project: str,
    environ: Mapping[str, str] | None = None,
    accounts: AccountLookup | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    if not should_alert(summary):
        return
    env = os.environ if environ is None else environ
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
        problem = webhook_url_problem(url)
        if problem is not None:
            log.error("alert webhook skipped: %s %s", hook.url_env, problem)
            continue
        body = webhook_body(hook, summary, project=project, accounts=accounts)
        deliver(
            url,
            json.dumps(body, default=str).encode("utf-8"),
            hook,
            clock=clock,
            sleep=sleep,
        )


# -- what is sent -----------------------------------------------------------------------------


def webhook_body(
    hook: AlertHook,
    summary: RunSummary,
    *,
    project: str,
    accounts: AccountLookup | None = None,
) -> dict[str, Any]:
    """The JSON body of ``hook``'s format."""
    named: list[tuple[dict[str, Any], list[AccountRef], int]] = []
    for alert in summary.alerts:
        ids = [str(i) for i in alert.get("accounts") or []]
        shown = ids[: hook.max_accounts]
        refs = accounts(shown) if accounts is not None and shown else [AccountRef(i) for i in shown]
        named.append((alert, refs, len(ids) - len(shown)))
    if hook.format == "slack":
        return _slack(summary, project, named)
    if hook.format == "teams":
        return _teams(summary, project, named)
    return _generic(summary, project, named)


def _title(summary: RunSummary, project: str) -> str:
    name = os.path.basename(project.rstrip("/")) or project
    return f"kam-sync {summary.mode} #{summary.run_id} ({name}): {summary.headline()}"


def _facts(summary: RunSummary) -> list[str]:
    facts = [f"exit code {int(summary.exit_code())}"]
    if summary.write_failures:
        facts.append(f"{summary.write_failures} accounts failed to write")
    if summary.error:
        facts.append(summary.error)
    return facts


def _generic(
    summary: RunSummary, project: str, named: list[tuple[dict[str, Any], list[AccountRef], int]]
) -> dict[str, Any]:
    return {
        "project": project,
        "run_id": summary.run_id,
        "status": summary.status,
        "stopped_reason": summary.stopped_reason,
        "exit_code": int(summary.exit_code()),
        "headline": summary.headline(),
        "write_failures": summary.write_failures,
        "alerts": [
            alert
            | {
                "account_details": [{"id": r.id, "name": r.name, "url": r.url} for r in refs],
                "more_accounts": more,
            }
            for alert, refs, more in named
        ],
        "error": summary.error,
    }


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn: &, < and > are control characters and must be escaped
    # (api.slack.com/reference/surfaces/formatting, "Escaping text").
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# A Slack section block's text holds at most 3,000 characters (api.slack.com/reference/
# block-kit/blocks, "Section block").
SLACK_SECTION_MAX_CHARS = 3000


def _slack(
    summary: RunSummary, project: str, named: list[tuple[dict[str, Any], list[AccountRef], int]]
) -> dict[str, Any]:
    title = _title(summary, project)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_slack_escape(title)}*"}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _slack_escape(", ".join(_facts(summary)))}],
        },
    ]
    for alert, refs, more in named:
        lines = [f"*{_slack_escape(str(alert['kind']))}*: {_slack_escape(str(alert['message']))}"]
        for ref in refs:
            label = _slack_escape(ref.name or ref.id)
            # In a link the label ends at '|' and the link at '>': both are escaped above or
            # cannot occur in a URL the connector built.
            lines.append(f"• <{ref.url}|{label.replace('|', '¦')}>" if ref.url else f"• {label}")
        if more:
            lines.append(f"… and {more} more")
        text = "\n".join(lines)
        if len(text) > SLACK_SECTION_MAX_CHARS:
            text = text[: SLACK_SECTION_MAX_CHARS - 1] + "…"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    # ``text`` is what notifications and clients without blocks show.
    return {"text": title, "blocks": blocks}


def _teams_escape(text: str) -> str:
    # Adaptive Card TextBlocks take a subset of Markdown: keep names from making links.
    return text.replace("[", "(").replace("]", ")")


def _teams(
    summary: RunSummary, project: str, named: list[tuple[dict[str, Any], list[AccountRef], int]]
) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": _teams_escape(_title(summary, project)),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {"type": "TextBlock", "text": ", ".join(_facts(summary)), "isSubtle": True, "wrap": True},
    ]
    for alert, refs, more in named:
        body.append(
            {
                "type": "TextBlock",
                "text": f"**{_teams_escape(str(alert['kind']))}**: "
                f"{_teams_escape(str(alert['message']))}",
                "wrap": True,
            }
        )
        items = [
            f"- [{_teams_escape(r.name or r.id)}]({r.url})"
            if r.url
            else f"- {_teams_escape(r.name or r.id)}"
            for r in refs
        ]
        if more:
            items.append(f"- … and {more} more")
        if items:
            body.append({"type": "TextBlock", "text": "\n".join(items), "wrap": True})
    # A Teams workflow ("Post to a channel when a webhook request is received") takes a message
    # whose attachment is an Adaptive Card (learn.microsoft.com, "Create incoming webhooks with
    # Workflows for Microsoft Teams"; the Office 365 connector cards are retired).
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                },
            }
        ],
    }


# -- how it is sent -----------------------------------------------------------------------------


class _GaveUp(Exception):
    """The delivery's total time ran out."""


def deliver(
    url: str,
    body: bytes,
    hook: AlertHook,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST ``body`` within ``hook.timeout_seconds`` in all; True when the server took it."""
    deadline = clock() + hook.timeout_seconds
    wait = hook.retry_wait_seconds
    for attempt in range(1, hook.retry_max_attempts + 1):
        retry_after: float | None = None
        try:
            status, retry_after = _post(url, body, deadline, clock)
        except _GaveUp:
            log.error(
                "alert webhook from %s gave up after %gs (timeout_seconds)",
                hook.url_env,
                hook.timeout_seconds,
            )
            return False
        except _Redirected as exc:
            log.error("alert webhook from %s not delivered: %s", hook.url_env, exc)
            return False
        except (OSError, http.client.HTTPException) as exc:
            problem = f"{type(exc).__name__}"
        else:
            if 200 <= status < 300:
                return True
            problem = f"HTTP {status}"
            if status not in _RETRIED:
                log.error("alert webhook from %s refused: %s", hook.url_env, problem)
                return False
        pause = retry_after if retry_after is not None else wait
        if attempt == hook.retry_max_attempts or clock() + pause >= deadline:
            log.error(
                "alert webhook from %s failed after %d attempt(s): %s",
                hook.url_env,
                attempt,
                problem,
            )
            return False
        log.warning(
            "alert webhook from %s: %s; trying again in %.1fs", hook.url_env, problem, pause
        )
        sleep(pause)
        wait *= 2
    return False


class _Redirected(Exception):
    """A redirect kam-sync does not follow (another host, another method, too many)."""


def _post(
    url: str, body: bytes, deadline: float, clock: Callable[[], float]
) -> tuple[int, float | None]:
    """One POST, following same-origin 307/308 redirects; (status, Retry-After seconds)."""
    origin = urlsplit(url)
    for _hop in range(MAX_REDIRECTS + 1):
        status, headers = _post_once(url, body, deadline, clock)
        if status not in (301, 302, 303, 307, 308):
            return status, _retry_after(headers.get("retry-after"))
        target = urlsplit(urljoin(url, headers.get("location", "")))
        if (target.scheme, target.hostname, target.port) != (
            origin.scheme,
            origin.hostname,
            origin.port,
        ):
            raise _Redirected(f"HTTP {status} redirect to another host, not followed")
        if status not in _REDIRECTS_FOLLOWED:
            raise _Redirected(f"HTTP {status} redirect would turn the POST into a GET")
        url = target.geturl()
    raise _Redirected(f"more than {MAX_REDIRECTS} redirects")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def _post_once(
    url: str, body: bytes, deadline: float, clock: Callable[[], float]
) -> tuple[int, dict[str, str]]:
    parts = urlsplit(url)
    remaining = deadline - clock()
    if remaining <= 0:
        raise _GaveUp
    host = parts.hostname or ""
    connection = _connection(parts.scheme, host, parts.port, remaining)
    # Each socket operation is bounded by the time left, and a timer cuts the socket when the
    # total is spent: a server trickling a byte every few seconds cannot hold the run.
    timed_out = threading.Event()

    def _cut() -> None:
        timed_out.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(remaining, _cut)
    timer.daemon = True
    timer.start()
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "kam-sync",
            },
        )
        response = connection.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        response.read(64 * 1024)  # a short answer ("ok"); never more than this
        return response.status, headers
    except (OSError, http.client.HTTPException):
        if timed_out.is_set():
            raise _GaveUp from None
        raise
    finally:
        timer.cancel()
        connection.close()


def _connection(
    scheme: str, host: str, port: int | None, timeout: float
) -> http.client.HTTPConnection:
    if scheme == "http":
        return http.client.HTTPConnection(host, port, timeout=timeout)
    context = ssl.create_default_context(cafile=_ca_file())
    proxy = _https_proxy(host)
    if proxy is None:
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    # Through the environment's HTTPS proxy (HTTPS_PROXY, NO_PROXY), as requests would go.
    via = urlsplit(proxy)
    connection = http.client.HTTPSConnection(
        via.hostname or "", via.port, timeout=timeout, context=context
    )
    connection.set_tunnel(host, port or 443)
    return connection


def _ca_file() -> str | None:
    """The CA bundle requests would use: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        import certifi
    except ImportError:  # pragma: no cover - requests depends on certifi
        return None
    return str(certifi.where())


def _https_proxy(host: str) -> str | None:
    proxies = urllib.request.getproxies()
    proxy = proxies.get("https")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy
