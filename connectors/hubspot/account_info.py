"""The account's own details: its portal id, company currency and web app domain.

``GET /account-info/v3/details`` (developers.hubspot.com/docs/api-reference/latest/account/
account-information/get-account-details) answers ``portalId``, ``companyCurrency``,
``additionalCurrencies``, ``uiDomain``, ``timeZone``, ...; it needs the ``oauth`` scope, which
every app has. The connector reads it at most once in its life, and only when something needs
it: the currency of ``amount_in_home_currency`` (a deal's amount in the company currency), or
record links when ``crm.hubspot.portal_id`` is not set. Nothing depends on it: when the call
fails (refused, not found, unreachable, budget spent), that is logged once and the connector
goes on without it, as it did before it knew the endpoint.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kam_sync.errors import ApiError, KamSyncError

log = logging.getLogger(__name__)

# ISO 4217 codes are three capital letters; a host name is letters, digits, dots and dashes.
_CURRENCY = re.compile(r"[A-Z]{3}")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class AccountDetails:
    """What kam-sync uses of the account details; None for a value missing or malformed."""

    portal_id: int | None
    company_currency: str | None
    ui_domain: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> AccountDetails:
        portal = body.get("portalId")
        currency = body.get("companyCurrency")
        domain = body.get("uiDomain")
        return cls(
            portal_id=portal
            if isinstance(portal, int) and not isinstance(portal, bool) and portal > 0
            else None,
            company_currency=currency
            if isinstance(currency, str) and _CURRENCY.fullmatch(currency)
            else None,
            ui_domain=domain if isinstance(domain, str) and _HOST.fullmatch(domain) else None,
        )


class AccountInfo:
    """The account details, read once on first use with ``read`` (which returns the decoded
    body or raises a kam-sync error); None ever after when that read failed."""

    def __init__(self, read: Callable[[], Mapping[str, Any]]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._done = False
        self._details: AccountDetails | None = None

    def details(self) -> AccountDetails | None:
        with self._lock:
            if not self._done:
                self._done = True
                self._details = self._read_once()
            return self._details

    def _read_once(self) -> AccountDetails | None:
        try:
            return AccountDetails.from_body(self._read())
        except KamSyncError as exc:
            status = exc.status if isinstance(exc, ApiError) else None
            log.warning(
                "hubspot: the account details (GET /account-info/v3/details) could not be read "
                "(%s%s); money figures are not named by currency code and record links need "
                "crm.hubspot.portal_id",
                type(exc).__name__,
                f", HTTP {status}" if status is not None else "",
            )
            return None
