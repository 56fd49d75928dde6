"""The one place where Salesforce calls are made, retried, re-authenticated and budgeted.

Every call goes through ``SalesforceClient.call``: it checks the quota budget, runs the call under
the connectors' one retry policy (``kam_sync_connectors.retry``: transient failures only,
Retry-After honoured and capped, jittered back-off, bounded attempts and total wait), renews an
expired session once, and translates every failure into kam-sync's exception tree.
"""

from __future__ import annotations

import json
import logging
import random as _random
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, BinaryIO, TypeVar

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.util import exception_handler

from kam_sync.errors import AuthError
from kam_sync_connectors.quota import QuotaBudget
from kam_sync_connectors.retry import Retrier, RetryPolicy
from kam_sync_connectors.salesforce.auth import AccessGrant, obtain_grant
from kam_sync_connectors.salesforce.credentials import Credentials
from kam_sync_connectors.salesforce.error_map import CONNECTOR, SessionExpired, translate
from kam_sync_connectors.salesforce.quota import observe_header
from kam_sync_connectors.salesforce.settings import SalesforceSettings
from kam_sync_connectors.salesforce.transport import CallLedger, build_session
from kam_sync_connectors.transport_security import require_secure_url

log = logging.getLogger(__name__)
T = TypeVar("T")


class SalesforceClient:
    """An authenticated simple-salesforce handle behind the retry, auth and quota policy."""

    def __init__(
        self,
        settings: SalesforceSettings,
        credentials: Credentials,
        *,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        # Checked again here (settings check it when they load): models built in code skip
        # validation, and a secret must never be posted to a plain-http login URL.
        require_secure_url(str(settings.login_url), "crm.salesforce.login_url", connector=CONNECTOR)
        if settings.instance_url is not None:
            require_secure_url(
                str(settings.instance_url), "crm.salesforce.instance_url", connector=CONNECTOR
            )
        self.settings = settings
        self._credentials = credentials
        self.sleep = sleep
        self.retrier = Retrier(
            RetryPolicy.from_settings(settings), connector=CONNECTOR, sleep=sleep, random=random
        )
        self.ledger = CallLedger()
        self.quota = QuotaBudget(
            connector=CONNECTOR,
            stop_at_percent=settings.quota_stop_at_percent,
            max_percent_per_run=settings.quota_max_percent_per_run,
            run_calls=self.ledger.api_calls,
        )
        self.http = build_session(
            timeout=settings.timeout_seconds,
            ca_bundle=settings.ca_bundle,
            ledger=self.ledger,
            on_limit_info=lambda header: observe_header(self.quota, header),
        )
        self._grant: AccessGrant | None = None
        self._sf: Salesforce | None = None
        self.waits = self.retrier.waits  # every back-off slept, for the run log and tests

    # -- session -------------------------------------------------------------------------------

    @property
    def grant(self) -> AccessGrant:
        """The current access grant, logging in (under the retry policy) when needed."""
        if self._grant is None:
            self.call("login", lambda sf: None)
        assert self._grant is not None
        return self._grant

    @property
    def instance_url(self) -> str | None:
        """The org's instance URL once logged in (no login is made to learn it)."""
        return self._grant.instance_url if self._grant is not None else None

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce handle for the current session (logging in when needed)."""
        if self._sf is None:
            self._login()
        assert self._sf is not None
        return self._sf

    def _login(self) -> None:
        # Always reached from inside ``call`` (lazily, or to renew), whose policy retries it.
        grant = obtain_grant(self.settings, self._credentials, self.http)
        self._grant = grant
        self._sf = Salesforce(
            instance_url=grant.instance_url,
            session_id=grant.access_token,
            version=self.settings.api_version,
            session=self.http,
            # Numbers with a fraction (currency, percent) stay exact; plain dicts are faster.
            parse_float=Decimal,
            object_pairs_hook=dict,
        )
        # Pretty-printed JSON is a third larger on the wire and helps nobody here.
        self._sf.headers.pop("X-PrettyPrint", None)

    def _renew(self) -> None:
        if self.settings.auth == "session":
            raise AuthError(
                f"{CONNECTOR}: the session id in KAM_SYNC_SF_SESSION_ID expired or is invalid; "
                "set a fresh one or use an OAuth flow that can renew itself"
            )
        log.info("salesforce session expired; logging in again")
        self._grant = None
        self._sf = None
        self._login()

    def close(self) -> None:
        self.http.close()

    # -- calls ---------------------------------------------------------------------------------

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        """Run ``fn`` against the current session under the retry, renewal and quota policy."""

        def attempt() -> T:
            self.quota.check(what)
            renewed = False
            while True:
                try:
                    return fn(self.sf)
                except Exception as exc:
                    error = translate(exc, what=what, last_response=self.ledger.last_response)
                    if isinstance(error, SessionExpired):
                        if renewed:
                            raise AuthError(
                                f"{CONNECTOR}: {what}: session rejected again right after "
                                "logging in anew (INVALID_SESSION_ID)"
                            ) from exc
                        self._renew()
                        renewed = True
                        continue
                    if error is exc:
                        raise
                    raise error from exc

        return self._with_retries(what, attempt)

    def _with_retries(self, what: str, fn: Callable[[], T]) -> T:
        return self.retrier.run(what, fn)

    def raw(
        self,
        what: str,
        method: str,
        path: str,
        *,
        body: bytes | str | BinaryIO | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        params: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        """A request to ``/services/data/vXX.X/<path>`` whose body is not (only) JSON, e.g. CSV."""

        def send(sf: Salesforce) -> requests.Response:
            if body is not None and not isinstance(body, bytes | str):
                body.seek(0)  # a file body is read again from its start on each attempt
            headers = dict(sf.headers)
            headers["Content-Type"] = content_type
            headers["Accept"] = accept
            response = self.http.request(
                method, sf.base_url + path, headers=headers, data=body, params=params
            )
            if response.status_code >= 300:
                exception_handler(response, name=what)
            return response

        return self.call(what, send)

    def json_call(self, what: str, method: str, path: str, payload: Any | None = None) -> Any:
        """A JSON REST call through simple-salesforce's ``restful``."""
        data = json.dumps(payload) if payload is not None else None
        return self.call(what, lambda sf: sf.restful(path, method=method, data=data))
