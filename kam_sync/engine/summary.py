"""What one run did, for the terminal, `--json`, the ledger and the exit code."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from kam_sync.errors import ExitCode


@dataclass(slots=True)
class RunSummary:
    run_id: int
    mode: str  # run | plan
    as_of: datetime
    started_at: datetime
    status: str = "running"  # ok | partial | interrupted | failed
    finished_at: datetime | None = None
    pulled: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    in_scope: int = 0
    scored: int = 0
    tiers: dict[str, int] = field(default_factory=dict)
    tier_changes: int = 0
    key_accounts: int = 0
    key_cap: int | None = None  # the cap on the key-account list for this portfolio
    cap_mode: str | None = None  # enforce | flag
    over_cap: int = 0  # accounts flagged over_cap (waitlisted under enforce)
    changes_by_field: dict[str, int] = field(default_factory=dict)
    accounts_to_write: int = 0
    accounts_written: int = 0
    fields_written: int = 0
    write_failures: int = 0
    dead_letters: int = 0
    protected: int = 0
    out_of_scope: int = 0  # live accounts outside the scope holding values kam-sync wrote
    adopted: int = 0  # CRM values recognised as kam-sync's own writes and recorded as written
    alerts: list[dict[str, Any]] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)
    quota_used: int | None = None
    quota_limit: int | None = None
    quota_source: str | None = None  # where the quota figure was read, as the connector says
    error: str | None = None
    stopped_reason: str | None = None
    peak_memory_mib: int | None = None  # the run process's peak resident memory
    # The one currency every amount is in (Salesforce multi-currency: converted to the corporate
    # currency; HubSpot: the portal's company currency); None: the CRM does not say.
    currency: str | None = None
    # Wall seconds each step of the run took (pull, assess, diff, push, ...), in the order they
    # ran; recording the run itself is not counted.
    step_seconds: dict[str, float] = field(default_factory=dict)
    # Quarantined records alone make exit code 3 only above this share of the pulled records.
    max_quarantined_percent: float = 1.0
    # The process's exit code when an error decided it (a mapping that does not fit the CRM: 2;
    # a second stop request: 130), for the ledger; None: ``exit_code()``.
    forced_exit_code: int | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def exit_code(self) -> ExitCode:
        if self.status == "failed":
            forced = self.forced_exit_code
            if forced is not None and forced in ExitCode.__members__.values():
                return ExitCode(forced)
            return ExitCode.FAILURE
        if self.stopped_reason == "quota":
            return ExitCode.QUOTA_STOP
        if self.status == "interrupted":
            return ExitCode.INTERRUPTED
        if self.status == "partial":
            return ExitCode.FAILURE
        if self.write_failures or self.alerts or self.quarantine_over_limit():
            return ExitCode.RECORD_ERRORS_OR_ALERTS
        return ExitCode.OK

    @property
    def quarantined_percent(self) -> float:
        """Quarantined records as a share (percent) of the records this run pulled."""
        quarantined, pulled = sum(self.quarantined.values()), sum(self.pulled.values())
        return 100.0 * quarantined / pulled if pulled else 0.0

    def quarantine_over_limit(self) -> bool:
        return (
            sum(self.quarantined.values()) > 0
            and self.quarantined_percent > self.max_quarantined_percent
        )

    def headline(self) -> str:
        """One line that says what the exit code says: ok, ok with warnings, attention, ..."""
        if self.status != "ok":
            return self.status + (f" ({self.stopped_reason})" if self.stopped_reason else "")
        quarantined = sum(self.quarantined.values())
        share = f"{quarantined} records quarantined ({self.quarantined_percent:.1f} %"
        if self.exit_code() == ExitCode.OK:
            return f"ok with warnings: {share})" if quarantined else "ok"
        reasons = []
        if self.write_failures:
            n = self.write_failures
            reasons.append(f"{n} account{'s' if n != 1 else ''} failed to write")
        if self.alerts:
            reasons.append(f"{len(self.alerts)} alert{'s' if len(self.alerts) != 1 else ''}")
        if self.quarantine_over_limit():
            reasons.append(f"{share}, above {self.max_quarantined_percent:g} %)")
        elif quarantined:
            reasons.append(f"{share})")
        return "attention: " + ", ".join(reasons)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("as_of", "started_at", "finished_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        data["duration_seconds"] = self.duration_seconds
        data["exit_code"] = int(self.exit_code())
        data["headline"] = self.headline()
        return data

    def recorded_exit_code(self) -> int:
        """The exit code the run's command ends with, as the ledger keeps it."""
        return self.forced_exit_code if self.forced_exit_code is not None else self.exit_code()

    def counts(self) -> dict[str, Any]:
        """The ledger's counts column."""
        return {
            "pulled": self.pulled,
            "deleted": self.deleted,
            "quarantined": self.quarantined,
            "in_scope": self.in_scope,
            "scored": self.scored,
            "tiers": self.tiers,
            "tier_changes": self.tier_changes,
            "key_accounts": self.key_accounts,
            "key_cap": self.key_cap,
            "over_cap": self.over_cap,
            "changes_by_field": self.changes_by_field,
            "accounts_written": self.accounts_written,
            "fields_written": self.fields_written,
            "write_failures": self.write_failures,
            "protected": self.protected,
            "out_of_scope": self.out_of_scope,
            "adopted": self.adopted,
            "stopped_reason": self.stopped_reason,
            "currency": self.currency,
        }
