"""The Salesforce connector: the ``Connector`` protocol over simple-salesforce.

Use ``connect(settings, os.environ)``; nothing is sent until the first call. Beyond the protocol:

* ``set_write_back_targets(object_name, fields)``: the mapping's write-back targets; ``push``
  refuses every other field (and every field of an object with no targets) before a request.
* ``mapped_field_problems(object, fields)``: for ``kam-sync validate``, mapped fields the org
  lacks, including relationship paths (``Owner.Name``) and related pseudo-fields, with
  suggestions.
* ``check_quota()``: reads ``/limits`` once at the start of a run, so the budget is known before
  the first big call (``Sforce-Limit-Info`` keeps it current afterwards). A user without "View
  Setup and Configuration" gets 403 there; the run then goes on with the usage from the
  ``Sforce-Limit-Info`` header, says so once in the log, and ``quota().source`` names the header.
* ``quota().calls_by_kind``: HTTP calls made so far, by kind: ``auth``, ``limits``,
  ``describe``, ``query`` (query pages), ``write`` (collection writes), ``bulk`` (Bulk API 2.0
  job requests), ``tooling``, ``other``; and ``bulk_jobs``, the number of Bulk API 2.0 jobs
  created (not a call count). Logins do not count against the daily allocation.

Related pseudo-fields (see ``soql``): ``@AccountTeamMember.TeamMemberRole`` in
``PullRequest.fields`` of an Account pull yields, per Account, the list of its team members'
role labels (from a parent-to-child subquery on ``AccountTeamMembers``, deleted members left
out; an empty list when the account has none). Any ``@<ChildObject>.<Field>`` of a child
relationship works the same way. Pulls with related pseudo-fields always use the REST query API
(Bulk API 2.0 has no subqueries); incremental ones also pull again, by Id, the parents whose
children alone changed since the last run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote

from kam_sync.errors import FatalApiError
from kam_sync_connectors.base import (
    CustomFieldSpec,
    DoctorCheck,
    ObjectDescription,
    Page,
    ProvisionReport,
    PullRequest,
    QuotaStatus,
    RecordUpdate,
    ShouldStop,
    WriteResult,
)
from kam_sync_connectors.salesforce import validation
from kam_sync_connectors.salesforce.client import SalesforceClient
from kam_sync_connectors.salesforce.credentials import Credentials
from kam_sync_connectors.salesforce.describe import DescribeCache
from kam_sync_connectors.salesforce.provision import Provisioner
from kam_sync_connectors.salesforce.pull import Puller
from kam_sync_connectors.salesforce.push import Pusher
from kam_sync_connectors.salesforce.quota import (
    LIMIT_INFO_SOURCE,
    LIMITS_REFUSED,
    LIMITS_SOURCE,
    observe_limits,
)
from kam_sync_connectors.salesforce.settings import SalesforceSettings

log = logging.getLogger(__name__)


class SalesforceConnector:
    """One org, one session, one call ledger; implements ``kam_sync_connectors.base.Connector``."""

    name = "salesforce"

    def __init__(
        self,
        settings: SalesforceSettings,
        credentials: Credentials,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.client = SalesforceClient(settings, credentials, sleep=sleep)
        self._describe = DescribeCache(self.client)
        self._puller = Puller(self.client, self._describe)
        self._pusher = Pusher(self.client, self._describe)
        self._provisioner = Provisioner(self.client, self._describe)
        self._quota_source = LIMIT_INFO_SOURCE
        self._limits_refused = False

    def describe(self, object_name: str) -> ObjectDescription:
        return self._describe.with_provenance(object_name)

    def pull(self, request: PullRequest) -> Iterator[Page]:
        return self._puller.pull(request)

    def amounts_currency(self) -> str | None:
        """The corporate currency pulled amounts were converted to (multi-currency orgs)."""
        return self._puller.corporate_currency

    def record_url(self, object_name: str, record_id: str) -> str | None:
        """The record's Lightning Experience page on the org's instance (Salesforce Help,
        "Lightning Experience URL Format": ``/lightning/r/<object>/<id>/view``); None before
        the connector has logged in (it knows no instance URL then)."""
        instance = self.client.instance_url
        if instance is None:
            return None
        return f"{instance}/lightning/r/{quote(object_name)}/{quote(record_id)}/view"

    def set_write_back_targets(self, object_name: str, fields: Iterable[str]) -> None:
        """Declare the only fields ``push`` may write on ``object_name``."""
        self._pusher.write_back_targets[object_name] = frozenset(fields)

    def push(
        self,
        object_name: str,
        updates: Sequence[RecordUpdate],
        *,
        should_stop: ShouldStop | None = None,
    ) -> list[WriteResult]:
        return self._pusher.push(object_name, updates, should_stop=should_stop)

    def diagnose(self) -> list[DoctorCheck]:
        """For ``kam-sync doctor``: connection, login flow, permissions, budget (doctor.py)."""
        from kam_sync_connectors.salesforce.doctor import diagnose

        return diagnose(self)

    def provision(self, fields: Sequence[CustomFieldSpec]) -> ProvisionReport:
        return self._provisioner.provision(fields)

    def mapped_field_problems(self, object_name: str, fields: Sequence[str]) -> list[str]:
        """For ``kam-sync validate``: mapped fields the org lacks (paths and pseudo-fields too)."""
        return validation.mapped_field_problems(self._describe, object_name, fields)

    def check_quota(self) -> QuotaStatus:
        """Read ``/limits`` (one call) and raise QuotaExhaustedError if the budget is spent.

        A 403 other than the quota's own (the Limits resource needs "View Setup and
        Configuration"; REST API Developer Guide, "Limits") is not an error: the 403 response,
        like every REST response, carried ``Sforce-Limit-Info``, which the client has read. The
        guide does not give the body; whatever its code (INSUFFICIENT_ACCESS, or the
        API_DISABLED_FOR_ORG of forceworkbench/forceworkbench#681), any such 403 is taken alike.
        """
        if not self._limits_refused:
            try:
                limits = self.client.json_call("limits", "GET", "limits/")
            except FatalApiError as exc:
                if exc.status != 403:
                    raise
                self._limits_refused = True
                log.warning("%s", LIMITS_REFUSED)
            else:
                observe_limits(self.client.quota, limits)
                self._quota_source = LIMITS_SOURCE
        self.client.quota.check()
        return self.quota()

    def quota(self) -> QuotaStatus:
        return QuotaStatus(
            used=self.client.quota.used,
            limit=self.client.quota.limit,
            calls_by_kind=self.client.ledger.report(),
            source=self._quota_source if self.client.quota.limit is not None else None,
        )

    def close(self) -> None:
        self.client.close()


def connect(
    settings: SalesforceSettings,
    environ: Mapping[str, str],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> SalesforceConnector:
    """A connector for one org; credentials are read from ``KAM_SYNC_SF_*`` in ``environ``."""
    return SalesforceConnector(settings, Credentials.from_environ(environ), sleep=sleep)
