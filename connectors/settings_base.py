"""The settings every connector has, spelled once: transport, retries, look-back and quota.

Each CRM's settings model (``crm.<name>`` in ``kam-sync.yaml``) derives from
``ConnectorSettings`` and may give a field another default (the CRM's documented limit), never
another name. URL settings refuse plain ``http://`` to another machine here (``refuse_plain_http``), so
``kam-sync validate`` reports it at the line of the YAML file (see ``transport_security``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from kam_sync_connectors.transport_security import plain_http_refusal

log = logging.getLogger(__name__)

# Old spellings still accepted, with a warning: old name -> the one name.
DEPRECATED_NAMES = {"retry_attempts": "retry_max_attempts"}


class ConnectorSettings(BaseModel):
    """Settings common to every CRM connector; see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    ca_bundle: Path | None = Field(
        default=None,
        description="CA bundle (PEM) to trust instead of the environment's "
        "(REQUESTS_CA_BUNDLE, SSL_CERT_FILE), e.g. for a TLS-inspecting proxy; "
        "verification stays on",
    )
    timeout_seconds: float = Field(
        default=60.0, gt=0, le=600, description="time-out of every HTTP request, in seconds"
    )
    # Retries of transient failures (connection errors, time-outs, 5xx, 429): connectors/retry.py
    retry_max_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="attempts per call on transient failures (connection, time-out, 5xx, 429), "
        "the first included",
    )
    retry_initial_wait_seconds: float = Field(
        default=1.0,
        ge=0,
        description="first back-off when the server sends no Retry-After; doubles",
    )
    retry_max_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        description="longest single wait, a Retry-After from the server included",
    )
    retry_max_total_wait_seconds: float = Field(
        default=120.0, ge=0, description="give up when the waits of one call would pass this"
    )
    look_back_minutes: float = Field(
        default=10.0, ge=0, description="incremental pulls start this long before the watermark"
    )
    quota_stop_at_percent: float = Field(
        default=80.0,
        gt=0,
        le=100,
        description="stop the run when the account has used this share of its daily API calls",
    )
    quota_max_percent_per_run: float = Field(
        default=25.0,
        gt=0,
        le=100,
        description="one run spends at most this share of the daily API allocation",
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_old_spellings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        renamed = dict(data)
        for old, new in DEPRECATED_NAMES.items():
            if old not in renamed:
                continue
            if new in renamed:
                raise ValueError(f"'{old}' is the old name of '{new}'; give only '{new}'")
            log.warning(
                "setting '%s' is the old name of '%s' and will be removed; rename it", old, new
            )
            renamed[new] = renamed.pop(old)
        return renamed


def refuse_plain_http(url: HttpUrl | None) -> HttpUrl | None:
    """A pydantic field validator body: the URL, or ValueError if it is plain http elsewhere."""
    refusal = None if url is None else plain_http_refusal(str(url))
    if refusal is not None:
        raise ValueError(refusal)
    return url
