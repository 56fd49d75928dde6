"""The HubSpot CRM API as the sandbox server serves it (`HubSpotApp`).

Endpoints (the parts kam-sync uses), with the endpoint kind each counts under:

    POST  /oauth/v1/token                                   auth
    GET   /account-info/v3/details                          account_info
    GET   /crm/v3/owners                                    query
    GET   /crm/v3/objects/{type}            list            query
    GET   /crm/v3/objects/{type}/{id}                       query
    PATCH /crm/v3/objects/{type}/{id}                       write
    DELETE /crm/v3/objects/{type}/{id}      archive         write
    POST  /crm/v3/objects/{type}/batch/read                 query
    POST  /crm/v3/objects/{type}/batch/update               write
    POST  /crm/v3/objects/{type}/search                     search
    GET   /crm/v3/properties/{type}[/{name}]                describe
    GET   /crm/v3/properties/{type}/groups[/{name}]         describe
    POST/PATCH the same                                     metadata
    POST  /crm/v4/associations/{from}/{to}/batch/read       associations
    GET   /crm/v4/objects/{from}/{id}/associations/{to}     associations

`{type}` is `companies` or `deals` (also `company`, `deal`, `0-2`, `0-3`). This module
holds what every request goes through (auth, rate limits, fault bodies) and persistence;
the endpoints themselves are in `objects_api` and `properties_api`.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs

from kam_sync.sandbox.faults import FaultInjector
from kam_sync.sandbox.hubspot.account_api import ACCOUNT_INFO_SCOPE, US_UI_DOMAIN, account_details
from kam_sync.sandbox.hubspot.associations import AssociationReader
from kam_sync.sandbox.hubspot.errors import correlation_id, error_body
from kam_sync.sandbox.hubspot.objects_api import ObjectsApi
from kam_sync.sandbox.hubspot.properties import PropertyDefinition, PropertyGroup
from kam_sync.sandbox.hubspot.properties_api import PropertiesApi, parse_options
from kam_sync.sandbox.hubspot.ratelimit import RateDecision, RateLimiter
from kam_sync.sandbox.hubspot.search import SearchCache
from kam_sync.sandbox.hubspot.seed_values import USER_ID_BASE
from kam_sync.sandbox.hubspot.store import DEFAULT_SEARCH_LAG_SECONDS, HubSpotStore
from kam_sync.sandbox.portfolio import Portfolio
from kam_sync.sandbox.server import CrmApp, Request, Response, Route, json_response
from kam_sync.sandbox.stats import SandboxStats

OAUTH_TOKEN_SECONDS = 1800
# The scopes the sandbox's private app and OAuth app were granted: what kam-sync needs (read
# companies and deals, write companies, read and create their properties, read owners; `oauth`,
# which HubSpot grants every app, for the account details). `HubSpotApp.scopes` can be narrowed
# to model an app created with fewer.
SANDBOX_SCOPES = (
    ACCOUNT_INFO_SCOPE,
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.deals.read",
    "crm.objects.owners.read",
    "crm.schemas.companies.read",
    "crm.schemas.companies.write",
    "crm.schemas.deals.read",
)

HUB_ID = 20_000_001  # the sandbox portal's id
_OBJ = r"/crm/v3/objects/(?P<type>[^/]+)"
_PROPS = r"/crm/v3/properties/(?P<type>[^/]+)"


class HubSpotApp(CrmApp):
    """One sandbox HubSpot portal: its data, properties, tokens and rate limits."""

    crm = "hubspot"

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        rate_limit_tier: int = 190,
        faults: FaultInjector | None = None,
        stats: SandboxStats | None = None,
        seed: int = 1,
        search_per_second: int = 5,
        daily_limit: int | None = None,
        invalid_values: Literal["per_record", "whole_batch"] = "whole_batch",
        clock: Callable[[], datetime] | None = None,
        search_lag_seconds: float = DEFAULT_SEARCH_LAG_SECONDS,
        search_ragged_pages: bool = False,
    ) -> None:
        super().__init__()
        self.invalid_values = invalid_values
        self.store = HubSpotStore(portfolio, clock=clock)
        self.store.search_lag_seconds = search_lag_seconds
        self.search_ragged_pages = search_ragged_pages
        self.search_queries = 0
        # Called after each search page is answered: tests make "someone edits records while
        # a pull pages" happen at a known point.
        self.after_search: Callable[[str], None] | None = None
        self.faults = faults or FaultInjector()
        self.stats = stats or SandboxStats()
        self.limiter = RateLimiter(
            rate_limit_tier, daily_limit=daily_limit, search_per_second=search_per_second
        )
        self._quota_spec: object = None
        self._apply_quota()
        self.associations = AssociationReader(self.store)
        self.search_cache = SearchCache()
        # Derived from the seed so that a restarted sandbox (`--data FILE`) accepts the same
        # credentials, as the Salesforce side does.
        digest = hashlib.sha256(f"kam-sync-sandbox-hubspot:{seed}".encode()).hexdigest()
        self.access_token = f"pat-na1-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:28]}"
        self.client_id = f"{digest[28:36]}-{digest[36:40]}-sandbox"
        self.client_secret = digest[40:64]
        self.refresh_token = f"na1-{digest[:4]}-{digest[44:64]}"
        self._oauth_tokens: dict[str, datetime] = {}
        self._tokens_lock = threading.Lock()
        self._rate_headers = threading.local()
        self.scopes: tuple[str, ...] = SANDBOX_SCOPES
        # The web app's domain the account details name (an EU portal's: app-eu1.hubspot.com).
        self.ui_domain = US_UI_DOMAIN
        self.routes = self._route_table()

    # -- wiring ----------------------------------------------------------------------------

    def bind(self, *, stats: SandboxStats, faults: FaultInjector) -> None:
        """Share the server's counters and fault injector (record-level faults, accounting)."""
        self.stats = stats
        self.faults = faults
        self._apply_quota()

    def set_remaining_quota(self, remaining: int) -> None:
        """Pretend the day's API allocation is used up but `remaining` requests."""
        self.limiter.set_daily_remaining(remaining)

    def credentials(self) -> dict[str, str]:
        """What a client needs: the private-app token, and an OAuth app's refresh grant."""
        return {
            "access_token": self.access_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }

    def _route_table(self) -> list[Route]:
        objects = ObjectsApi(self)
        properties = PropertiesApi(self)
        return [
            Route.of("POST", r"/oauth/v1/token", self.oauth_token),
            Route.of(
                "POST", r"/oauth/v2/private-apps/get/access-token-info", self.private_token_info
            ),
            Route.of("GET", r"/oauth/v1/access-tokens/(?P<token>[^/]+)", self.oauth_token_info),
            Route.of("GET", r"/account-info/v3/details/?", self.account_details),
            Route.of("GET", r"/crm/v3/owners/?", objects.list_owners),
            Route.of("POST", _OBJ + r"/batch/read", objects.batch_read),
            Route.of("POST", _OBJ + r"/batch/update", objects.batch_update),
            Route.of("POST", _OBJ + r"/search", objects.search),
            Route.of("POST", _OBJ + r"/merge", objects.merge),
            Route.of("GET", _OBJ + r"/?", objects.list_objects),
            Route.of("GET", _OBJ + r"/(?P<id>[^/]+)", objects.get_object),
            Route.of("PATCH", _OBJ + r"/(?P<id>[^/]+)", objects.patch_object),
            Route.of("DELETE", _OBJ + r"/(?P<id>[^/]+)", objects.archive_object),
            Route.of("GET", _PROPS + r"/groups/?", properties.list_groups),
            Route.of("POST", _PROPS + r"/groups/?", properties.create_group),
            Route.of("GET", _PROPS + r"/groups/(?P<name>[^/]+)", properties.get_group),
            Route.of("PATCH", _PROPS + r"/groups/(?P<name>[^/]+)", properties.update_group),
            Route.of("GET", _PROPS + r"/?", properties.list_properties),
            Route.of("POST", _PROPS + r"/?", properties.create_property),
            Route.of("GET", _PROPS + r"/(?P<name>[^/]+)", properties.get_property),
            Route.of("PATCH", _PROPS + r"/(?P<name>[^/]+)", properties.update_property),
            Route.of(
                "POST",
                r"/crm/v4/associations/(?P<from>[^/]+)/(?P<to>[^/]+)/batch/read",
                objects.associations_batch_read,
            ),
            Route.of(
                "GET",
                r"/crm/v4/objects/(?P<from>[^/]+)/(?P<id>[^/]+)/associations/(?P<to>[^/]+)",
                objects.associations_list,
            ),
        ]

    def endpoint_kind(self, method: str, path: str) -> str:
        if path.startswith("/oauth/"):
            return "auth"
        if path.startswith("/crm/v4/"):
            return "associations"
        if path.startswith("/account-info/"):
            return "account_info"
        if path.startswith("/crm/v3/properties/"):
            return "describe" if method == "GET" else "metadata"
        if path.startswith("/crm/v3/objects/"):
            if path.endswith("/search"):
                return "search"
            if path.endswith("/batch/read") or method == "GET":
                return "query"
            return "write"
        if path.startswith("/crm/v3/owners"):
            return "query"
        return "other"

    # -- hooks of the shared server ----------------------------------------------------------

    def before_route(self, request: Request) -> Response | None:
        self._rate_headers.value = {}
        if request.path.startswith("/oauth/"):
            return None
        refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        self._apply_quota()
        decision = self.limiter.admit(
            search=request.kind == "search", oauth=not self._private_app(request)
        )
        self._rate_headers.value = decision.headers
        if not decision.allowed:
            self.stats.count_fault(f"rate_limit_{(decision.policy_name or '').lower()}")
            return json_response(429, decision.body(), decision.headers)
        return None

    def finish_response(self, request: Request, response: Response) -> None:
        headers: dict[str, str] = getattr(self._rate_headers, "value", {}) or {}
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        self._rate_headers.value = {}

    def fault_response(
        self, request: Request, status: int, retry_after_s: float | None
    ) -> Response:
        headers = (
            {} if retry_after_s is None else {"Retry-After": str(max(0, math.ceil(retry_after_s)))}
        )
        if status == 429:
            # An injected 429 looks like the ten-second window's own.
            body = RateDecision(False, "TEN_SECONDLY_ROLLING").body()
        else:
            body = error_body("Service Unavailable", "SERVICE_UNAVAILABLE")
        return json_response(status, body, headers)

    def not_found(self, request: Request) -> Response:
        return json_response(404, error_body("Resource not found.", "OBJECT_NOT_FOUND"))

    def method_not_allowed(self, request: Request) -> Response:
        return json_response(
            405, error_body(f"Method {request.method} is not allowed here.", "VALIDATION_ERROR")
        )

    def internal_error(self, request: Request, exc: BaseException) -> Response:
        message = f"internal error: {type(exc).__name__}: {exc}"
        return json_response(500, error_body(message, "INTERNAL_ERROR"))

    def expire_sessions(self) -> None:
        # Private-app tokens never expire; tokens from the OAuth refresh grant do.
        # They stay known, so a client hears "expired" rather than "unknown token".
        expired = self.store.clock() - timedelta(seconds=1)
        with self._tokens_lock:
            for token in self._oauth_tokens:
                self._oauth_tokens[token] = expired

    def _apply_quota(self) -> None:
        spec = self.faults.spec
        if spec is self._quota_spec:
            return
        self._quota_spec = spec
        if spec.daily_quota_remaining is not None:
            self.limiter.set_daily_remaining(spec.daily_quota_remaining)

    # -- auth ------------------------------------------------------------------------------

    def _private_app(self, request: Request) -> bool:
        _, _, token = (request.header("Authorization") or "").partition(" ")
        return secrets.compare_digest(token, self.access_token)

    def _authenticate(self, request: Request) -> Response | None:
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token:
            if secrets.compare_digest(token, self.access_token):
                return None
            with self._tokens_lock:
                expires = self._oauth_tokens.get(token)
            if expires is not None and expires > self.store.clock():
                return None
            if expires is not None:
                return json_response(
                    401,
                    error_body(
                        "The OAuth token used to make this call expired.",
                        "EXPIRED_AUTHENTICATION",
                    ),
                )
        return json_response(
            401,
            error_body(
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            ),
        )

    def private_token_info(self, request: Request) -> Response:
        """A private app token's scopes: ``POST /oauth/v2/private-apps/get/access-token-info``
        with ``{"tokenKey": ...}`` (developers.hubspot.com, "Private apps")."""
        try:
            body = request.json()
        except ValueError:
            body = None
        token = str(body.get("tokenKey") or "") if isinstance(body, dict) else ""
        if not secrets.compare_digest(token, self.access_token):
            return json_response(
                401, error_body("The access token is not valid.", "INVALID_AUTHENTICATION")
            )
        return json_response(
            200, {"userId": USER_ID_BASE, "hubId": HUB_ID, "appId": 1, "scopes": list(self.scopes)}
        )

    def account_details(self, request: Request) -> Response:
        """``GET /account-info/v3/details`` (see ``account_api``)."""
        return account_details(
            hub_id=HUB_ID,
            currencies=self.store.currencies,
            ui_domain=self.ui_domain,
            scopes=self.scopes,
        )

    def oauth_token_info(self, request: Request) -> Response:
        """An OAuth access token's metadata: ``GET /oauth/v1/access-tokens/{token}``
        (developers.hubspot.com, "OAuth tokens: get access token metadata")."""
        token = request.params["token"]
        with self._tokens_lock:
            expires = self._oauth_tokens.get(token)
        now = self.store.clock()
        if expires is None or expires <= now:
            return json_response(404, error_body("The token is not known.", "NOT_FOUND"))
        return json_response(
            200,
            {
                "token": token,
                "hub_id": HUB_ID,
                "app_id": 1,
                "user_id": USER_ID_BASE,
                "scopes": list(self.scopes),
                "token_type": "access",
                "expires_in": int((expires - now).total_seconds()),
            },
        )

    def oauth_token(self, request: Request) -> Response:
        """The refresh-token grant of HubSpot's OAuth 2.0 token endpoint."""
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return json_response(400, _oauth_error("BAD_GRANT_TYPE", "unsupported grant_type"))
        if form.get("client_id") != self.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), self.client_secret
        ):
            return json_response(400, _oauth_error("BAD_CLIENT_ID", "missing or unknown client"))
        if not secrets.compare_digest(form.get("refresh_token", ""), self.refresh_token):
            return json_response(
                400, _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
            )
        token = f"sandbox-oauth-{secrets.token_hex(16)}"
        expires = self.store.clock().timestamp() + OAUTH_TOKEN_SECONDS
        with self._tokens_lock:
            self._oauth_tokens[token] = datetime.fromtimestamp(expires, UTC)
        return json_response(
            200,
            {
                "token_type": "bearer",
                "refresh_token": self.refresh_token,
                "access_token": token,
                "expires_in": OAUTH_TOKEN_SECONDS,
            },
        )

    # -- persistence -----------------------------------------------------------------------

    def dump_state(self) -> dict[str, Any]:
        """Everything that changed since the seed, JSON-ready (`--data FILE`)."""
        custom: dict[str, Any] = {}
        for table in (self.store.companies, self.store.deals):
            custom[table.object_type] = {
                "groups": [g.to_json() for g in table.registry.groups()],
                "properties": [
                    p.to_json() for p in table.registry.properties() if not p.hubspot_defined
                ],
            }
        return {"crm": "hubspot", "schema": custom, "data": self.store.changes()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Replay `dump_state()` output on an app seeded with the same portfolio."""
        for object_type, schema in state.get("schema", {}).items():
            registry = self.store.table(object_type).registry
            for group in schema.get("groups", []):
                registry.add_group(
                    PropertyGroup(group["name"], group["label"], int(group.get("displayOrder", -1)))
                )
            for prop in schema.get("properties", []):
                registry.add(
                    PropertyDefinition(
                        name=prop["name"],
                        label=prop["label"],
                        type=prop["type"],
                        field_type=prop["fieldType"],
                        group_name=prop["groupName"],
                        options=parse_options(prop["type"], prop.get("options") or []),
                        description=prop.get("description", ""),
                        display_order=int(prop.get("displayOrder", -1)),
                    )
                )
        self.store.apply_changes(state.get("data", {}))


def _oauth_error(status: str, message: str) -> dict[str, Any]:
    return {"status": status, "message": message, "correlationId": correlation_id()}
