"""The project file, ``kam-sync.yaml``: which CRM, which mapping and rule files, where state lives,
when to run, and how hard to push the CRM's API."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    create_model,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from kam_sync.config.report_section import ReportSection
from kam_sync.config.suggest import did_you_mean
from kam_sync_connectors import registry

PROJECT_FILE = "kam-sync.yaml"
STORE_PASSWORD_ENV = "KAM_SYNC_STORE_PASSWORD"  # noqa: S105 (a variable name, not a password)
SUPPORTED_STORE_DRIVERS = ("sqlite", "postgresql", "postgresql+psycopg")


class CrmSection(BaseModel):
    """Which CRM this project syncs with, and how to reach it: ``type`` names a CRM of the
    connector registry, and the key of the same name holds that CRM's settings (its registry
    entry's settings model). The model validated is built from the registry
    (``project_config_model``), one member of a discriminated union per CRM."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: str
    settings: BaseModel


def _crm_section_model(crm: registry.CrmEntry) -> type[CrmSection]:
    name: Any = Literal.__getitem__(crm.name)
    return create_model(
        f"CrmSection_{crm.name}",
        __base__=CrmSection,
        __doc__=f"The CRM section of a {crm.name} project.",
        type=(name, Field(description=f"the CRM: {crm.name}")),
        settings=(
            crm.settings_model,
            Field(
                default_factory=crm.settings_model,
                alias=crm.name,
                description=f"how to reach the {crm.name} account, and the bounds of its API use",
            ),
        ),
    )


_NOT_A_CRM = "[not a registered CRM]"


def _crm_tag(value: Any) -> str:
    # The tags are bracketed so that error locations never mistake them for keys of the file.
    crm = value.get("type") if isinstance(value, dict) else None
    if isinstance(value, CrmSection):
        crm = value.type
    return f"[{crm}]" if isinstance(crm, str) and crm in registry.crm_names() else _NOT_A_CRM


def _never_valid(schema: dict[str, Any]) -> None:
    # In the JSON Schema editors use, the fallback member matches nothing: each CRM's section
    # is then exactly one member of the ``oneOf``.
    schema["not"] = {}


def crm_section_annotation(crms: tuple[registry.CrmEntry, ...]) -> Any:
    """The ``crm`` section as a discriminated union over ``crms``. A section whose ``type`` is
    missing or names no registered CRM goes to a member that only checks ``type`` against the
    known names, so the error says which CRMs there are, at the ``type`` line."""
    names: Any = Literal.__getitem__(tuple(c.name for c in crms))
    unknown = create_model(
        "CrmSection_unknown",
        __config__=ConfigDict(extra="allow", json_schema_extra=_never_valid),
        type=(
            names,
            Field(description=f"the CRM: {', '.join(c.name for c in crms)}"),
        ),
    )
    members = tuple(Annotated[_crm_section_model(c), Tag(f"[{c.name}]")] for c in crms)
    return Annotated[
        Union[(*members, Annotated[unknown, Tag(_NOT_A_CRM)])],
        Discriminator(_crm_tag),
    ]


class RuleFiles(BaseModel):
    """Where the rule files are, relative to the project folder."""

    model_config = ConfigDict(extra="forbid")

    scoring: str = Field(
        default="rules/scoring.yaml", description="factors, weights, classification and tiers"
    )
    governance: str = Field(
        default="rules/governance.yaml", description="key-list cap, anti-flapping, growth alerts"
    )
    checklist: str = Field(
        default="rules/checklist.yaml", description="the account-plan checklist questions"
    )
    stages: str = Field(
        default="rules/stages.yaml", description="plan-stage gates, review cadence, team roles"
    )


class StoreSection(BaseModel):
    """The state store: SQLite in the project folder by default, PostgreSQL by URL."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        default="sqlite:///state/kam-sync.sqlite",
        description="SQLAlchemy URL; a relative SQLite path is relative to the project folder. "
        f"The password of a server URL comes from {STORE_PASSWORD_ENV}, never from this file.",
    )
    lock_stale_seconds: int = Field(
        default=600,
        ge=30,
        le=86_400,
        description="SQLite: a run lock whose holder has not renewed it for this long is taken "
        "over (the holder renews it every tenth of this; allow for clock skew between machines)",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                f"url is not a database URL: {value!r} (expected e.g. sqlite:///state/kam-sync.sqlite "
                "or postgresql+psycopg://kam@db.example.com/kam)"
            ) from None
        if url.drivername not in SUPPORTED_STORE_DRIVERS:
            raise ValueError(
                f"url uses unsupported database '{url.drivername}'"
                f"{did_you_mean(url.drivername, SUPPORTED_STORE_DRIVERS)} "
                f"(allowed: {', '.join(SUPPORTED_STORE_DRIVERS)})"
            )
        if url.password is not None:
            raise ValueError(
                "url contains a password; remove it and set the environment variable "
                f"{STORE_PASSWORD_ENV} instead"
            )
        if url.drivername == "sqlite" and not url.database:
            raise ValueError(
                "url names no SQLite file (in-memory stores lose the state between runs)"
            )
        return value


@lru_cache(maxsize=1)
def _all_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class ScheduleSection(BaseModel):
    """When `kam-sync schedule` runs the sync."""

    model_config = ConfigDict(extra="forbid")

    cron: str = Field(
        default="0 2 * * *", description="five-field crontab: minute hour day month weekday"
    )
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Berlin")
    misfire_grace_minutes: int = Field(
        default=120,
        ge=1,
        le=24 * 60,
        description="a run missed (kam-sync was down) still runs, once, within this many minutes",
    )

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        if value not in _all_time_zones():
            raise ValueError(
                f"timezone '{value}' is not an IANA time zone{did_you_mean(value, _all_time_zones())} "
                "(e.g. UTC, Europe/Berlin, America/New_York)"
            )
        return value

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        fields = value.split()
        if len(fields) != 5:
            raise ValueError(
                f"cron must have 5 fields (minute hour day month weekday), got {len(fields)}: "
                f"'{value}'"
            )
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"cron '{value}' is not valid: {exc}") from None
        return value


class SyncSection(BaseModel):
    """Bounds of one run that do not depend on the CRM."""

    model_config = ConfigDict(extra="forbid")

    retry_limit: int = Field(
        default=5,
        ge=1,
        le=100,
        description="runs a failed write is retried before it is a dead letter",
    )
    write_chunk_size: int | None = Field(
        default=None,
        ge=100,
        le=100_000,
        description="updates handed to the connector at once; their results are stored together "
        "(not set: the CRM's own, Salesforce 50,000 for its Bulk API, HubSpot 5,000)",
    )
    overwrite_manual_edits: bool = Field(
        default=False,
        description="default for write-back targets: overwrite a value a person changed in the CRM",
    )
    max_quarantined_percent: float = Field(
        default=1.0,
        ge=0,
        le=100,
        description="quarantined records alone make exit code 3 only when they are more than this "
        "share (percent) of the records the run pulled; below it the run is 'ok with warnings'",
    )
    out_of_scope: Literal["clear", "keep"] = Field(
        default="clear",
        description="accounts that leave scope (record filter, type change): clear the KAM values "
        "kam-sync wrote to them, or keep them",
    )


# Slack: a section block's text holds at most 3,000 characters (api.slack.com/reference/
# block-kit/blocks, "Section block"); Teams: a message at most about 28 KB
# (learn.microsoft.com, "Create an Incoming Webhook", limits). Alerts name this many accounts
# each, which keeps both well inside.
DEFAULT_ALERT_ACCOUNTS = 10


class AlertHook(BaseModel):
    """Where run-level alerts (list growth, quota stop, failures) are sent."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["log", "webhook"] = Field(
        description="log: a warning in the run's log; webhook: an HTTP POST to the URL in url_env"
    )
    url_env: str | None = Field(
        default=None,
        description="webhook: the environment variable holding the URL (URLs often embed tokens)",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
    )
    format: Literal["generic", "slack", "teams"] = Field(
        default="generic",
        description="webhook body: generic JSON, a Slack incoming-webhook message (text and "
        "blocks), or a Microsoft Teams workflow message (an Adaptive Card)",
    )
    timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="webhook: total time for one delivery, retries and a slow server included; "
        "then it is given up and the run goes on",
    )
    retry_max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="webhook: attempts on connection errors, time-outs, 429 and 5xx answers",
    )
    retry_wait_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="webhook: first wait before a retry (doubles; a Retry-After is honoured "
        "within timeout_seconds)",
    )
    max_accounts: int = Field(
        default=DEFAULT_ALERT_ACCOUNTS,
        ge=0,
        le=50,
        description="webhook: accounts named (with links to their records) per alert; the rest "
        "are counted",
    )

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> AlertHook:
        if self.type == "webhook" and not self.url_env:
            raise ValueError("a webhook alert needs url_env, the environment variable with its URL")
        return self


class ProjectConfig(BaseModel):
    """The whole ``kam-sync.yaml``."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = Field(default=1, description="file format version")
    crm: CrmSection = Field(
        description="which CRM (type) and how to reach it (the section named like the type)"
    )
    mapping: str = Field(description="mapping file, relative to the project folder")
    rules: RuleFiles = Field(
        default_factory=RuleFiles, description="the rule files, relative to the project folder"
    )
    store: StoreSection = Field(
        default_factory=StoreSection, description="the state store (SQLite or PostgreSQL)"
    )
    schedule: ScheduleSection = Field(
        default_factory=ScheduleSection, description="when `kam-sync schedule` runs the sync"
    )
    sync: SyncSection = Field(
        default_factory=SyncSection, description="bounds of one run that do not depend on the CRM"
    )
    report: ReportSection = Field(
        default_factory=ReportSection,
        description="the HTML report of the portfolio and the runs (`kam-sync report`)",
    )
    alerts: list[AlertHook] = Field(
        default_factory=lambda: [AlertHook(type="log")],
        description="where run-level alerts go: the log, and webhooks (generic, Slack, Teams)",
    )

    def connector_settings(self) -> BaseModel:
        """The settings of the CRM this project uses (its registry entry's settings model)."""
        return self.crm.settings


@lru_cache(maxsize=8)
def _project_config_model(crms: tuple[registry.CrmEntry, ...]) -> type[ProjectConfig]:
    return create_model(
        "ProjectConfig",
        __base__=ProjectConfig,
        __doc__=ProjectConfig.__doc__,
        crm=(
            crm_section_annotation(crms),
            Field(description=ProjectConfig.model_fields["crm"].description),
        ),
    )


def project_config_model() -> type[ProjectConfig]:
    """``ProjectConfig`` whose ``crm`` section is the union of the CRMs registered now."""
    return _project_config_model(tuple(registry.entry(name) for name in registry.crm_names()))
