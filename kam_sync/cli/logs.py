"""Logging for the CLI: one clear line on the terminal, details in the log, secrets masked."""

from __future__ import annotations

import logging
import os
import sys

from kam_sync.config.secret_lookup import values_read_from_keyring
from kam_sync.engine.failure import DETAILS_LOGGER

SECRET_ENV_PREFIXES = ("KAM_SYNC_",)
_SECRET_HINTS = ("SECRET", "PASSWORD", "TOKEN", "SESSION", "KEY")
MASK = "********"


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
        # Secrets read from the OS keyring are known only once read: asked at each line.
        from_keyring = [v for v in values_read_from_keyring() if len(v) >= 4]
        secrets = sorted({*self._secrets, *from_keyring}, key=len, reverse=True)
        if not secrets:
            return True
        message = record.getMessage()
        masked = message
        for secret in secrets:
            masked = masked.replace(secret, MASK)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


class DetailsOnlyWhenVerbose(logging.Filter):
    """Keeps tracebacks (the details logger) off the terminal unless -v: they go to the file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(DETAILS_LOGGER)


def configure_logging(verbosity: int, log_file: str | None = None) -> None:
    """``verbosity``: -1 quiet, 0 normal, 1 verbose (debug)."""
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    root = logging.getLogger()
    root.handlers.clear()
    terminal = logging.StreamHandler(sys.stderr)
    if verbosity < 1:
        terminal.addFilter(DetailsOnlyWhenVerbose())
    handlers: list[logging.Handler] = [terminal]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    masking = SecretMaskingFilter()
    for handler in handlers:
        handler.addFilter(masking)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays out of the normal log.
    for noisy in ("urllib3", "simple_salesforce", "apscheduler", "zeep"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
