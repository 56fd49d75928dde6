"""Logging for the CLI: one clear line on the terminal, details in the log, secrets masked.

Two formats (``--log-format``, or the variable ``KAM_SYNC_LOG_FORMAT``):

* ``text`` for people: ``2026-12-04T02:00:01.234Z INFO [run 42 pull] kam_sync...: message k=v``
* ``json`` for machines, one object a line: ``time`` (UTC, ISO 8601 with ``Z``), ``level``,
  ``run_id``, ``step``, ``logger``, ``message`` and ``fields`` (the structured values a line
  was logged with: ``log.info("...", extra={"fields": {...}})``).

Both carry the run id and step the engine set (``kam_sync.engine.run_context``), in UTC.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from kam_sync.cli.progress import ProgressAwareHandler
from kam_sync.engine import run_context
from kam_sync.engine.failure import DETAILS_LOGGER

SECRET_ENV_PREFIXES = ("KAM_SYNC_",)
_SECRET_HINTS = ("SECRET", "PASSWORD", "TOKEN", "SESSION", "KEY")
MASK = "********"

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_FORMAT_ENV = "KAM_SYNC_LOG_FORMAT"


class SecretMaskingFilter(logging.Filter):
    """Replaces the values of secret environment variables in every log message."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        super().__init__()
        env = dict(os.environ) if environ is None else environ
        self._secrets = sorted(
            {
                value
                for name, value in env.items()
                if name.startswith(SECRET_ENV_PREFIXES)
                and any(h in name for h in _SECRET_HINTS)
                and len(value) >= 4
                and not name.endswith("_FILE")
            },
            key=len,
            reverse=True,
        )

    def filter(self, record: logging.LogRecord) -> bool:
        # Secrets read from the OS keyring are known only once read: asked at each line. (The
        # keyring package loads at the first line logged, not at every start of the command.)
        from kam_sync.config.secret_lookup import values_read_from_keyring

        from_keyring = [v for v in values_read_from_keyring() if len(v) >= 4]
        secrets = sorted({*self._secrets, *from_keyring}, key=len, reverse=True)
        if not secrets:
            return True
        message = record.getMessage()
        masked = _mask(message, secrets)
        if masked != message:
            record.msg = masked
            record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {
                k: _mask(v, secrets) if isinstance(v, str) else v for k, v in fields.items()
            }
        return True


def _mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class DetailsOnlyWhenVerbose(logging.Filter):
    """Keeps tracebacks (the details logger) off the terminal unless -v: they go to the file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(DETAILS_LOGGER)


def utc_timestamp(created: float) -> str:
    """A log record's time in UTC, ISO 8601 with milliseconds and ``Z``."""
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class TextFormatter(logging.Formatter):
    """``<UTC time> <LEVEL> [run <id> <step>] <logger>: <message> <key>=<value> ...``"""

    def format(self, record: logging.LogRecord) -> str:
        run_id, step = run_context.run_id(), run_context.step()
        where = ""
        if run_id is not None:
            where = f" [run {run_id}" + (f" {step}" if step else "") + "]"
        extra = "".join(f" {k}={_text_value(v)}" for k, v in _fields(record).items())
        line = (
            f"{utc_timestamp(record.created)} {record.levelname}{where} {record.name}: "
            f"{record.getMessage()}{extra}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if not isinstance(value, str):
        return json.dumps(value, default=str)
    return json.dumps(value) if (" " in value or not value) else value


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": utc_timestamp(record.created),
            "level": record.levelname,
            "run_id": run_context.run_id(),
            "step": run_context.step(),
            "logger": record.name,
            "message": record.getMessage(),
            "fields": _fields(record),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def log_format_from_environment(environ: dict[str, str] | None = None) -> str:
    """The default of ``--log-format``: the variable, else ``text``."""
    env = os.environ if environ is None else environ
    return env.get(LOG_FORMAT_ENV, "").strip().lower() or "text"


def configure_logging(
    verbosity: int, log_file: str | None = None, log_format: str = "text"
) -> None:
    """``verbosity``: -1 quiet, 0 normal, 1 verbose (debug); ``log_format``: text or json.

    The terminal and the log file get the same format; on a terminal, lines are printed above
    the progress bars, never through them.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers.clear()
    terminal = ProgressAwareHandler(sys.stderr)
    if verbosity < 1:
        terminal.addFilter(DetailsOnlyWhenVerbose())
    handlers: list[logging.Handler] = [terminal]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    masking = SecretMaskingFilter()
    formatter: logging.Formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    for handler in handlers:
        handler.addFilter(masking)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays out of the normal log.
    for noisy in ("urllib3", "simple_salesforce", "apscheduler", "zeep"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
