"""The connector protocol: the only surface through which kam-sync talks to a CRM.

A connector knows one CRM's SDK, auth, paging, batching, rate limits, quota and error codes. It
knows nothing of key accounts, scoring or the state store: it moves CRM records, named by the
CRM's own object and field names, in and out.

Raw records are flat dicts keyed by the CRM field names exactly as the mapping names them:
standard fields (``Name``, ``dealstage``), relationship paths (``Owner.Name``), and the related
pseudo-fields a connector documents (for example HubSpot's ``@associations.companies``). Values are
what the CRM's JSON holds (strings, numbers, booleans, None; lists for multi-valued relations);
the mapping layer coerces them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from kam_sync.errors import KamSyncError, QuotaExhaustedError

RawRecord = dict[str, Any]

# WriteResult.error_code of an update that a push never sent because it stopped part-way (the
# API budget ran out, or the run was asked to stop). The one code for that meaning: such an
# update used no attempt and is not a write failure; the next run's diff brings it back.
NOT_SENT = "KAM_NOT_SENT"

PushStopReason = Literal["quota", "interrupted"]
# Asked between batches by a push: True when the run has been asked to stop (SIGTERM/SIGINT).
ShouldStop = Callable[[], bool]

CustomFieldType = Literal[
    "picklist",  # one value from a list
    "multipicklist",  # several values from a list
    "number",
    "percent",
    "text",
    "longtext",
    "date",
    "datetime",
    "checkbox",
]


@dataclass(frozen=True, slots=True)
class FieldDescription:
    """One field of a CRM object as the CRM describes it."""

    name: str
    label: str
    type: str  # the CRM's own type name (Salesforce 'picklist', HubSpot 'enumeration', ...)
    updateable: bool
    nillable: bool = True
    custom: bool = False
    # Created by this connector's ``provision`` (Salesforce: a custom field whose Tooling API
    # description names kam-sync; HubSpot: a custom property in kam-sync's property group).
    provisioned: bool = False
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    picklist_values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectDescription:
    """A CRM object's fields by name."""

    name: str
    fields: dict[str, FieldDescription]


@dataclass(frozen=True, slots=True)
class PullRequest:
    """What to pull: one object, these fields, records modified in ``[since, until]``.

    ``since`` None means a full pull. Deleted (or archived) records are always included, so the
    engine can take them out of scope.
    """

    object_name: str
    fields: tuple[str, ...]
    since: datetime | None
    until: datetime
    id_field: str
    modified_field: str
    deleted_field: str | None = None
    page_size: int | None = None
    # When the engine last applied an id reconciliation of this object (a Page with
    # ``existing_ids``); None: not known. A connector lists every id again once a period has
    # passed since then, not since ``since`` (a quiet CRM's watermark stops moving).
    ids_reconciled_at: datetime | None = None
    # The ``until`` of the last pull of this object that ran to its end (None: not known).
    # Deletions the CRM logs for a limited time (Salesforce's delete log) were read up to it,
    # so deletions can have been missed only when it is older than the log reaches.
    previous_until: datetime | None = None


@dataclass(slots=True)
class Page:
    """One page of raw records. Their order within the pull is the connector's (a Bulk API 2.0
    query carries no ORDER BY, HubSpot's list endpoint pages by id); a record read twice in one
    pull (edited while it ran) comes the second time with its newer stamp."""

    records: list[RawRecord]
    # The highest modification stamp among the records of this and earlier pages, set only when
    # no record with an older stamp is still to come in this pull: the engine may advance its
    # watermark to it once the page is durably stored. None: not yet known (unordered pulls name
    # it on their last page).
    high_watermark: datetime | None = None
    # When set: every id of the object that exists in the CRM now (an id reconciliation). A
    # stored record whose id is not among them was deleted past the CRM's delete log.
    existing_ids: frozenset[str] | None = None
    # When the CRM said how many records the pull's query matches (Salesforce's totalSize on
    # the first page): the progress bar's total. None where the API does not say.
    expected_total: int | None = None
    # Records of this page that a merge took away, by id, with the id of the record that
    # survived the merge (when the CRM names it). They come as deletions in ``records`` too.
    merged_into: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordUpdate:
    """New values for some fields of one record, by CRM field name, in CRM-ready form."""

    record_id: str
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of one record's update. ``retriable`` says whether trying again may help."""

    record_id: str
    ok: bool
    error_code: str | None = None
    message: str | None = None
    retriable: bool = False
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CustomFieldSpec:
    """A custom field to create (or check) on a CRM object."""

    object_name: str
    name: str
    label: str
    type: CustomFieldType
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    values: tuple[str, ...] = ()  # picklist values as the CRM stores them
    labels: tuple[str, ...] = ()  # display labels, same order as values (HubSpot options)
    description: str = ""
    # What a person sees next to the field: what it means, who fills it in, the values.
    help_text: str = ""
    # One text per value (same order as values), kept with the value (Salesforce: the picklist
    # value's description; HubSpot: the option's description). Connectors shorten ``labels``
    # to their CRM's documented limit; the full text lives here.
    value_descriptions: tuple[str, ...] = ()
    # The values are kam-sync's own (the checklist questions): provisioning relabels values
    # whose label changed and retires values no longer listed, instead of only adding.
    exact_values: bool = False
    # What the integration user needs: "edit" for the write-back fields, "read" for the inputs
    # people fill in (which people may edit and kam-sync only reads).
    access: Literal["edit", "read"] = "edit"


@dataclass(slots=True)
class ProvisionReport:
    """What provisioning did, field by field; ``problems`` need a person (e.g. a type mismatch)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # What an admin still has to do in the CRM's setup (assign access, show the fields).
    admin_steps: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    """One check of ``kam-sync doctor``: what was checked, whether it holds, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


class PushStoppedError(KamSyncError):
    """A push stopped part-way, after the batch in flight: the API budget ran out
    (``reason`` "quota", ``cause`` the QuotaExhaustedError) or the run was asked to stop
    (``reason`` "interrupted").

    ``results`` has one WriteResult per update of the push, in order: what was written, what
    failed, and what was never sent (``error_code`` NOT_SENT), so the engine can record the
    partial push before it ends the run. Every connector raises this, and only this, when its
    push stops part-way; the conformance suite in tests/ holds each connector to it.
    """

    def __init__(
        self,
        reason: PushStopReason,
        results: list[WriteResult],
        *,
        cause: QuotaExhaustedError | None = None,
    ) -> None:
        if reason == "quota" and cause is None:
            raise ValueError("a push stopped by the quota names the QuotaExhaustedError")
        self.reason: PushStopReason = reason
        self.results = results
        self.cause = cause
        sent = sum(1 for r in results if r.error_code != NOT_SENT)
        why = str(cause) if cause is not None else "the run was asked to stop"
        super().__init__(f"push stopped after {sent} of {len(results)} updates: {why}")


def not_sent(update: RecordUpdate, reason: str) -> WriteResult:
    """The result of an update a stopped push never sent."""
    return WriteResult(
        record_id=update.record_id,
        ok=False,
        error_code=NOT_SENT,
        message=reason,
        retriable=True,
        fields=tuple(update.values),
    )


@dataclass(slots=True)
class QuotaStatus:
    """Daily API allocation as last seen, and this connector's calls so far, by kind."""

    used: int | None
    limit: int | None
    calls_by_kind: dict[str, int] = field(default_factory=dict)
    # Where ``used``/``limit`` were read (e.g. "/limits", "Sforce-Limit-Info header"), or None.
    source: str | None = None

    @property
    def remaining(self) -> int | None:
        if self.used is None or self.limit is None:
            return None
        return max(self.limit - self.used, 0)


@runtime_checkable
class Connector(Protocol):
    """What every CRM adapter provides. A new CRM is a new module implementing this."""

    name: str

    def describe(self, object_name: str) -> ObjectDescription:
        """The object's fields as the CRM describes them."""
        ...

    def pull(self, request: PullRequest) -> Iterator[Page]:
        """Stream pages of raw records; never holds the whole result in memory."""
        ...

    def set_write_back_targets(self, object_name: str, fields: Iterable[str]) -> None:
        """Declare the only fields ``push`` may write on ``object_name`` (the allow-list)."""
        ...

    def push(
        self,
        object_name: str,
        updates: Sequence[RecordUpdate],
        *,
        should_stop: ShouldStop | None = None,
    ) -> list[WriteResult]:
        """Update records in the CRM's largest batch form; one result per update, same order.

        A field outside the write-back targets is refused before any request is made. Before
        each batch after the first, ``should_stop`` is asked; when it says stop, or when the API
        budget runs out, the push ends after the batch in flight and raises PushStoppedError
        with one result per update (those never sent marked NOT_SENT).
        """
        ...

    def provision(self, fields: Sequence[CustomFieldSpec]) -> ProvisionReport:
        """Create the custom fields (idempotently) and give the integration user access."""
        ...

    def diagnose(self) -> list[DoctorCheck]:
        """For ``kam-sync doctor``: the connection and TLS, the auth flow, the user's
        permissions or the token's scopes, and the API budget left, each with its fix. Reads
        only; raises nothing for a failed check (a check that cannot run is a failed check)."""
        ...

    def mapped_field_problems(self, object_name: str, fields: Sequence[str]) -> list[str]:
        """For ``kam-sync validate``: the mapped paths through relations (``Owner.Name``) and
        related pseudo-fields (``@AccountTeamMember.TeamMemberRole``) on ``object_name`` the CRM
        lacks, one message each. A connector whose CRM has no such paths returns ``[]``."""
        ...

    def check_quota(self) -> QuotaStatus:
        """Read the daily allocation from the CRM (one call) at the start of a run.

        Raises QuotaExhaustedError when the configured budget is already used up.
        """
        ...

    def quota(self) -> QuotaStatus:
        """The daily allocation as last seen and the calls this connector made, by kind."""
        ...

    def amounts_currency(self) -> str | None:
        """The one currency the amounts pulled so far are in, when the connector can name it (a
        multi-currency Salesforce org's corporate currency it converted them to, a HubSpot
        portal's company currency of ``amount_in_home_currency``); None when it cannot."""
        ...

    def record_url(self, object_name: str, record_id: str) -> str | None:
        """The address of a record in the CRM's own web interface, for links in chat alerts;
        None when the connector cannot tell (not logged in yet, no portal id configured)."""
        ...

    def close(self) -> None:
        """Release sessions and connections."""
        ...
