"""The HubSpot connector: kam-sync's ``Connector`` protocol over hubspot-api-client.

    connector = connect(settings, os.environ)       # KAM_SYNC_HUBSPOT_* secrets (or keyring)
    connector.check_quota()                         # start of a run: one call, may stop it
    connector.describe("companies")
    for page in connector.pull(PullRequest(...)): ...
    connector.set_write_back_targets("companies", ["kam_tier", ...])
    connector.push("companies", [RecordUpdate(...)])
    connector.provision([CustomFieldSpec(...)])
    connector.quota()                               # allocation and calls by kind
    connector.close()

Object names are HubSpot's (``companies``, ``deals``); raw records are keyed by property name,
plus ``archived`` (True for a deleted record) and these related pseudo-fields, read through
the v4 associations batch API, one call per page (details in ``associations.py``):

    @associations.companies        on deals: the deal's (primary) company id, or None
    @associations.parent_company   on companies: the parent company id, or None
    @associations.<object type>    any other: the list of associated ids

Paging, watermarks and deletions are described in ``pull.py``, write checks in ``push.py``.
Calls are counted in ``quota().calls_by_kind`` under ``describe``, ``list``, ``batch_read``,
``search``, ``associations``, ``write``, ``provision``, ``oauth``, ``quota`` and
``account_info`` (at most one: the portal id and company currency, see ``account_info.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from kam_sync.config.secret_lookup import secret_lookup
from kam_sync.errors import AuthError, FatalApiError
from kam_sync_connectors.base import (
    CustomFieldSpec,
    DoctorCheck,
    ObjectDescription,
    Page,
    ProvisionReport,
    PullRequest,
    PushStoppedError,
    QuotaStatus,
    RecordUpdate,
    ShouldStop,
    WriteResult,
)
from kam_sync_connectors.hubspot.account_info import AccountInfo
from kam_sync_connectors.hubspot.api_errors import sdk_exception_classes
from kam_sync_connectors.hubspot.auth import TokenGrant, TokenSource, credentials_from_env
from kam_sync_connectors.hubspot.budget import (
    CallCounts,
    budget_for,
    count_own_calls_if_unreported,
    quota_status,
)
from kam_sync_connectors.hubspot.calls import ApiCaller
from kam_sync_connectors.hubspot.limiter import RateLimiter
from kam_sync_connectors.hubspot.properties import PropertyService
from kam_sync_connectors.hubspot.pull import Puller
from kam_sync_connectors.hubspot.push import BatchWriter, check_update, sdk_batch_body
from kam_sync_connectors.hubspot.sdk import HubSpotSdk
from kam_sync_connectors.hubspot.settings import HubSpotSettings
from kam_sync_connectors.prefetch import prefetched
from kam_sync_connectors.retry import RetryPolicy
from kam_sync_connectors.transport_security import ca_bundle_path, require_secure_url

PROPERTY_GROUP = "kam"
# Object type ids of the objects kam-sync reads (developers.hubspot.com, "Using the object APIs").
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}
PROPERTY_GROUP_LABEL = "Key account management (kam-sync)"
# A deal's amount in the account's company currency, calculated by HubSpot from ``amount`` and
# the exchange rate of ``deal_currency_code`` (knowledge.hubspot.com, "Set up multiple
# currencies"; developers.hubspot.com/docs/api/settings/currencies).
HOME_CURRENCY_AMOUNT = "amount_in_home_currency"


class HubSpotConnector:
    """See the module docstring."""

    name = "hubspot"

    def __init__(
        self,
        settings: HubSpotSettings,
        environ: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Checked again here (settings check it when they load): models built in code skip
        # validation, and a token must never be sent over plain http to another machine.
        require_secure_url(str(settings.base_url), "crm.hubspot.base_url", connector=self.name)
        environ = secret_lookup(environ)
        self.settings = settings
        self._sleep = sleep
        self.ca_cert = ca_bundle_path(settings.ca_bundle, environ, setting="crm.hubspot.ca_bundle")
        self.sdk = HubSpotSdk(str(settings.base_url), ca_cert=self.ca_cert)
        self.limiter = RateLimiter(
            per_window=settings.rate_limit_tier,
            window_seconds=settings.rate_limit_window_seconds,
            search_per_second=settings.search_requests_per_second,
            margin_seconds=settings.rate_limit_margin_seconds,
            search_margin_seconds=settings.search_rate_limit_margin_seconds,
            clock=clock,
            sleep=sleep,
        )
        self.counts = CallCounts()
        self.budget = budget_for(settings, self.counts)
        if settings.auth == "oauth":
            # OAuth responses carry no daily headers: this run's calls are the usage known.
            count_own_calls_if_unreported(self.budget, self.counts)
        self.caller = ApiCaller(
            set_token=self.sdk.set_access_token,
            tokens=None,
            limiter=self.limiter,
            budget=self.budget,
            counts=self.counts,
            retry=RetryPolicy.from_settings(settings),
            timeout_seconds=settings.timeout_seconds,
            sdk_errors=sdk_exception_classes(self.sdk.api_objects),
            host=settings.base_url.host,
            sleep=sleep,
        )
        self.tokens: TokenSource = credentials_from_env(settings, environ, self._refresh_oauth)
        self.caller.tokens = self.tokens
        self.properties = PropertyService(
            self.caller,
            self.sdk,
            group_name=PROPERTY_GROUP,
            group_label=PROPERTY_GROUP_LABEL,
            max_options=settings.enumeration_max_options,
            option_max_characters=settings.option_max_characters,
        )
        self.puller = Puller(self.caller, self.sdk, settings)
        self._write_targets: dict[str, frozenset[str]] = {}
        self.account = AccountInfo(self._read_account_details)
        self._pulled_home_currency_amounts = False

    # -- the protocol ------------------------------------------------------------------------

    def describe(self, object_name: str) -> ObjectDescription:
        return self.properties.describe(object_name, fresh=True)

    def pull(self, request: PullRequest) -> Iterator[Page]:
        """The pages of ``request``, fetched up to ``prefetch_pages`` ahead of the caller."""
        if HOME_CURRENCY_AMOUNT in request.fields:
            self._pulled_home_currency_amounts = True
        return prefetched(
            self.puller.pull(request),
            self.settings.prefetch_pages,
            name=f"hubspot pull {request.object_name}",
        )

    def mapped_field_problems(self, object_name: str, fields: Sequence[str]) -> list[str]:
        """HubSpot properties are flat: no relation paths or pseudo-fields to check beyond
        what ``describe`` lists, so nothing to report here."""
        return []

    def set_write_back_targets(self, object_name: str, fields: Iterable[str]) -> None:
        """Declare the only properties ``push`` may write on ``object_name`` (the mapping's
        write-back targets). Until declared, nothing may be written."""
        self._write_targets[object_name] = frozenset(fields)

    def push(
        self,
        object_name: str,
        updates: Sequence[RecordUpdate],
        *,
        should_stop: ShouldStop | None = None,
    ) -> list[WriteResult]:
        """Batch-update; a property outside the write-back targets refuses the whole push
        (FatalApiError) before any request; a bad value fails only its record. A quota stop or
        ``should_stop`` ends it after the batch in flight with PushStoppedError."""
        if not updates:
            return []
        allowed = self._write_targets.get(object_name, frozenset())
        outside = sorted({name for u in updates for name in u.values} - allowed)
        if outside:
            raise FatalApiError(
                f"refusing to write {object_name} properties that are not write-back targets "
                f"of the mapping: {', '.join(outside)}",
                error_code="KAM_NOT_A_WRITE_BACK_TARGET",
                connector=self.name,
            )
        properties = self.properties.describe(object_name).fields
        results: dict[int, WriteResult] = {}
        sendable = []
        for index, update in enumerate(updates):
            refused = check_update(update, properties, allowed)
            if refused is not None:
                results[index] = refused
            else:
                sendable.append((index, update))

        def send(inputs: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
            response = self.caller.call(
                "write",
                f"batch update {object_name}",
                self.sdk.objects_batch.update,
                object_name,
                sdk_batch_body(inputs),
            )
            return response.status, response.body

        writer = BatchWriter(
            send,
            self.settings.write_batch_size,
            should_stop=should_stop,
            lock_retry_attempts=self.settings.lock_retry_attempts,
            lock_retry_wait_seconds=self.settings.lock_retry_wait_seconds,
            sleep=self._sleep,
            in_flight=self.settings.write_requests_in_flight,
        )
        results.update(writer.write(sendable))
        ordered = [results[i] for i in range(len(updates))]
        if writer.stopped_by_quota is not None:
            raise PushStoppedError("quota", ordered, cause=writer.stopped_by_quota)
        if writer.interrupted:
            raise PushStoppedError("interrupted", ordered)
        return ordered

    def diagnose(self) -> list[DoctorCheck]:
        """For ``kam-sync doctor``: connection, token, scopes, budget (see doctor.py)."""
        from kam_sync_connectors.hubspot.doctor import diagnose

        return diagnose(self)

    def provision(self, fields: Sequence[CustomFieldSpec]) -> ProvisionReport:
        return self.properties.provision(fields)

    def check_quota(self) -> QuotaStatus:
        """One cheap call at the start of a run to read the daily allocation from the
        ``X-HubSpot-RateLimit-Daily*`` headers; QuotaExhaustedError if the budget is spent.

        A one-record company list carries the headers on every HubSpot plan (the usage
        endpoint ``/account-info/v3/api-usage/daily/private-apps`` is private-app only).
        OAuth calls carry no daily headers: then the run counts its own calls against the
        configured limit (``crm.hubspot.daily_limit`` or ``tier``).
        """
        self.caller.call(
            "quota",
            "read the daily API allocation",
            self.sdk.objects_basic.get_page,
            "companies",
            limit=1,
            archived=False,
        )
        count_own_calls_if_unreported(self.budget, self.counts)
        self.budget.check("the run")
        return self.quota()

    def amounts_currency(self) -> str | None:
        """The company currency (``companyCurrency`` of the account details, one call per
        connector) once a pull has read ``amount_in_home_currency``, the amounts HubSpot
        calculates in it (the default mapping reads them); None when no pull read them (a
        mapping that reads ``amount`` gets each deal's own currency) or the details could not
        be read."""
        if not self._pulled_home_currency_amounts:
            return None
        details = self.account.details()
        return None if details is None else details.company_currency

    def quota(self) -> QuotaStatus:
        return quota_status(self.budget, self.counts)

    def record_url(self, object_name: str, record_id: str) -> str | None:
        """The record's page in HubSpot: ``<app_url>/contacts/<portal id>/record/<object type
        id>/<id>``, with the object type ids of developers.hubspot.com "Using the object APIs"
        (companies 0-2, deals 0-3). The portal id is ``crm.hubspot.portal_id``, else the
        account details' ``portalId`` (one call per connector), with their ``uiDomain`` as the
        web app unless ``crm.hubspot.app_url`` is set; None when neither tells."""
        type_id = OBJECT_TYPE_IDS.get(object_name, object_name)
        portal_id = self.settings.portal_id
        app = str(self.settings.app_url).rstrip("/")
        if portal_id is None:
            details = self.account.details()
            if details is None or details.portal_id is None:
                return None
            portal_id = details.portal_id
            if details.ui_domain and "app_url" not in self.settings.model_fields_set:
                app = f"https://{details.ui_domain}"
        return f"{app}/contacts/{portal_id}/record/{type_id}/{quote(record_id)}"

    def close(self) -> None:
        self.sdk.close()

    def _read_account_details(self) -> dict[str, Any]:
        return self.caller.call(
            "account_info", "read the account details", self.sdk.account_details
        ).body

    # -- OAuth -------------------------------------------------------------------------------

    def _refresh_oauth(self, client_id: str, client_secret: str, refresh_token: str) -> TokenGrant:
        try:
            body = self.caller.call(
                "oauth",
                "renew the OAuth access token",
                self.sdk.oauth_tokens.create,
                authenticated=False,
                grant_type="refresh_token",
                client_id=client_id,
                client_secret=client_secret,
                refresh_token=refresh_token,
            ).body
        except FatalApiError as exc:
            raise AuthError(
                f"hubspot: the OAuth refresh token was refused (HTTP {exc.status}); "
                "authorize the app again"
            ) from None
        token = body.get("access_token")
        if not token:
            raise AuthError("hubspot: the OAuth token endpoint returned no access token")
        return TokenGrant(
            access_token=str(token),
            expires_in=float(body.get("expires_in") or 1800),
            refresh_token=body.get("refresh_token"),
        )


def connect(settings: HubSpotSettings, environ: Mapping[str, str]) -> HubSpotConnector:
    """A connector for the account ``settings`` names, with secrets from ``environ`` or else the
    OS keyring (and, when ``ca_bundle`` is not set, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``
    from ``environ``)."""
    return HubSpotConnector(settings, environ)
