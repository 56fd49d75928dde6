"""The Salesforce side of the sandbox: routes, auth, the daily API quota, endpoint kinds.

Endpoint kinds (for stats and `--faults` scopes): `auth`, `query`, `describe`, `read`,
`write`, `bulk`, `tooling`, `limits`, `other`.

Every `/services/data` response carries `Sforce-Limit-Info: api-usage=N/M`; once the daily
allocation is used up, requests get 403 `REQUEST_LIMIT_EXCEEDED` (REST API "Limits" and
"Sforce-Limit-Info" docs). Token requests do not count against it.

`limits_permission = False` models an integration user without "View Setup and
Configuration": `GET /limits` answers 403 (REST API Developer Guide, "Limits": the resource is
"available ... for API users with the View Setup and Configuration permission").
"""

from __future__ import annotations

import re
import threading
from typing import Any

from kam_sync.sandbox.faults import FaultInjector, FaultSpec
from kam_sync.sandbox.salesforce.auth import ORG_ID, SalesforceCredentials, SessionRegistry
from kam_sync.sandbox.salesforce.bulk import BulkIngestService
from kam_sync.sandbox.salesforce.bulk_query import BulkQueryService
from kam_sync.sandbox.salesforce.deletions import GetDeletedService
from kam_sync.sandbox.salesforce.errors import NOT_FOUND_MESSAGE, sf_error
from kam_sync.sandbox.salesforce.rest_query import QueryService
from kam_sync.sandbox.salesforce.rest_records import RecordService
from kam_sync.sandbox.salesforce.store import SalesforceStore
from kam_sync.sandbox.salesforce.tooling import ToolingService, register_custom_fields
from kam_sync.sandbox.server import CrmApp, Request, Response, Route, json_response
from kam_sync.sandbox.stats import SandboxStats

# Up to Winter '27 (v68.0), the release current when this sandbox was written.
API_VERSIONS = tuple(f"{v}.0" for v in range(31, 69))
DEFAULT_DAILY_API_LIMIT = 100_000  # Enterprise Edition's base allocation
_V = r"/services/data/v(?P<version>\d{2}\.0)"
_VERSION = re.compile(r"/services/data/v(\d+\.\d+)")
_KINDS = (
    (re.compile(r"^/services/oauth2/"), "auth"),
    (re.compile(_V + r"/(query|queryAll)(/|$)"), "query"),
    (re.compile(_V + r"/tooling/"), "tooling"),
    (re.compile(_V + r"/jobs/"), "bulk"),
    (re.compile(_V + r"/limits/?$"), "limits"),
    (re.compile(_V + r"/sobjects/?$"), "describe"),
    (re.compile(_V + r"/sobjects/[^/]+/describe/?$"), "describe"),
    (re.compile(_V + r"/composite/"), "write"),
)


class SalesforceApp(CrmApp):
    """The Salesforce REST API, as far as kam-sync uses it."""

    crm = "salesforce"

    def __init__(
        self,
        store: SalesforceStore,
        *,
        credentials: SalesforceCredentials,
        public_key_pem: bytes,
        faults: FaultInjector,
        stats: SandboxStats,
        daily_api_limit: int = DEFAULT_DAILY_API_LIMIT,
        bulk_processing_seconds: float = 0.2,
    ) -> None:
        super().__init__()
        self.store = store
        self.stats = stats
        self.faults = faults
        self.base_url = "https://127.0.0.1"  # set by the runner once the port is known
        self.sessions = SessionRegistry(credentials, public_key_pem, user_id=store.api_user_id)
        self.daily_api_limit = daily_api_limit
        # Whether the API user holds "View Setup and Configuration" (see the module docstring).
        self.limits_permission = True
        remaining = faults.spec.daily_quota_remaining
        self._api_used = 0 if remaining is None else max(0, daily_api_limit - remaining)
        self._quota_lock = threading.Lock()
        self.queries = QueryService(store, count_read=lambda n: stats.count_read("query", n))
        self.records = RecordService(
            store,
            faults,
            count_read=lambda n: stats.count_read("read", n),
            count_written=lambda n: stats.count_written("write", n),
        )
        self.bulk = BulkIngestService(
            store,
            self.records,
            faults,
            processing_seconds=bulk_processing_seconds,
            count_written=lambda n: stats.count_written("bulk", n),
        )
        self.bulk_queries = BulkQueryService(
            store,
            self.queries.compiler,
            self.queries.views,
            processing_seconds=bulk_processing_seconds,
            count_read=lambda n: stats.count_read("bulk", n),
        )
        # Tests: refuse this many next requests with the concurrency variant of
        # REQUEST_LIMIT_EXCEEDED (see before_route).
        self.refuse_concurrent_requests = 0
        self.deletions = GetDeletedService(store, count_read=lambda n: stats.count_read("read", n))
        self.tooling = ToolingService(store)
        register_custom_fields(store)
        self.routes = self._routes()

    # -- quota ----------------------------------------------------------------------------

    @property
    def api_usage(self) -> tuple[int, int]:
        """(used, max) of the daily API allocation."""
        return self._api_used, self.daily_api_limit

    def set_remaining_quota(self, remaining: int) -> None:
        """Set how many API requests are left today (tests, `quota=` fault)."""
        with self._quota_lock:
            self._api_used = max(0, self.daily_api_limit - remaining)

    # -- hooks ----------------------------------------------------------------------------

    def endpoint_kind(self, method: str, path: str) -> str:
        for pattern, kind in _KINDS:
            if pattern.search(path):
                return kind
        if re.search(_V + r"/sobjects/[^/]+/[^/]+", path):
            return "read" if method == "GET" else "write"
        if re.search(_V + r"/sobjects/[^/]+/?$", path):
            return "read" if method == "GET" else "write"
        return "other"

    def before_route(self, request: Request) -> Response | None:
        if not request.path.startswith("/services/data/v"):
            return None
        version = _VERSION.match(request.path)
        if version is None or version.group(1) not in API_VERSIONS:
            return sf_error(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        if not self.sessions.check(request.header("authorization")):
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        with self._quota_lock:
            if self.refuse_concurrent_requests > 0:
                # The same code as the daily limit, for too many requests in flight at once
                # (Developer Limits and Allocations Quick Reference, "API Request Limits and
                # Allocations": concurrent API request limits); it passes when they finish.
                self.refuse_concurrent_requests -= 1
                self.stats.count_fault("concurrent_limit")
                return sf_error(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
                )
            if self._api_used >= self.daily_api_limit:
                self.stats.count_fault("quota_exhausted")
                return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self._api_used += 1
        return None

    def finish_response(self, request: Request, response: Response) -> None:
        if request.path.startswith("/services/data"):
            used, limit = self.api_usage
            response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"

    def fault_response(
        self, request: Request, status: int, retry_after_s: float | None
    ) -> Response:
        headers: dict[str, str] = {}
        if retry_after_s is not None:
            headers["Retry-After"] = str(max(0, int(-(-retry_after_s // 1))))
        if status == 503:
            response = sf_error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
        else:
            # Guess: Salesforce's REST API rarely sends 429; the body reuses its quota code.
            response = sf_error(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests; slow down")
        response.headers.update(headers)
        return response

    def bad_json(self, request: Request, reason: str) -> Response:
        return sf_error(400, "JSON_PARSER_ERROR", f"Unexpected character: {reason}")

    def not_found(self, request: Request) -> Response:
        return sf_error(404, "NOT_FOUND", NOT_FOUND_MESSAGE)

    def method_not_allowed(self, request: Request) -> Response:
        return sf_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed.")

    def internal_error(self, request: Request, exc: BaseException) -> Response:
        return sf_error(500, "UNKNOWN_EXCEPTION", f"sandbox error: {type(exc).__name__}: {exc}")

    def expire_sessions(self) -> None:
        self.sessions.expire_all()

    def on_faults_changed(self, spec: FaultSpec) -> None:
        if spec.daily_quota_remaining is not None:
            self.set_remaining_quota(spec.daily_quota_remaining)

    # -- routes ---------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        q, r, b, t = self.queries, self.records, self.bulk, self.tooling
        bq = self.bulk_queries
        sob = _V + r"/sobjects/(?P<sobject>[A-Za-z0-9_]+)"
        rid = r"(?P<record_id>[A-Za-z0-9]+)"
        ingest = _V + r"/jobs/ingest"
        job = ingest + r"/(?P<job_id>[A-Za-z0-9]+)"
        loc = r"(?P<locator>01g[0-9a-f]+)-(?P<position>\d+)"
        query_job = _V + r"/jobs/query/(?P<job_id>[A-Za-z0-9]+)"
        return [
            Route.of("POST", r"/services/oauth2/token", self._token),
            Route.of("GET", r"/services/data/?", self._versions),
            Route.of("GET", _V + r"/?", self._resources),
            Route.of("GET", _V + r"/limits/?", self._limits),
            Route.of("GET", _V + r"/query/?", lambda rq: q.query(rq, include_deleted=False)),
            Route.of("GET", _V + r"/queryAll/?", lambda rq: q.query(rq, include_deleted=True)),
            Route.of(
                "GET",
                _V + r"/(?:query|queryAll)/" + loc,
                lambda rq: q.more(rq, rq.params["locator"]),
            ),
            Route.of("GET", _V + r"/sobjects/?", r.global_describe),
            Route.of("GET", sob + r"/describe/?", r.describe),
            Route.of("GET", sob + r"/deleted/?", self.deletions.get_deleted),
            Route.of("GET", sob + r"/?", r.basic_info),
            Route.of("POST", sob + r"/?", r.create_record),
            Route.of("GET", sob + "/" + rid, r.get_record),
            Route.of("PATCH", sob + "/" + rid, r.patch_record),
            Route.of("DELETE", sob + "/" + rid, r.delete_record),
            Route.of("PATCH", _V + r"/composite/sobjects/?", r.collection_update),
            Route.of("POST", ingest + r"/?", b.create),
            Route.of("GET", job + r"/?", b.get),
            Route.of("PATCH", job + r"/?", b.patch),
            Route.of("DELETE", job + r"/?", b.delete),
            Route.of("PUT", job + r"/batches/?", b.upload),
            # The guide spells `unprocessedrecords`; simple-salesforce asks for
            # `unprocessedRecords` and works against Salesforce, so both are served.
            Route.of(
                "GET",
                job + r"/(?P<results>successfulResults|failedResults|"
                r"unprocessed[rR]ecords)/?",
                b.results,
            ),
            Route.of("POST", _V + r"/jobs/query/?", bq.create),
            Route.of("GET", query_job + r"/?", bq.get),
            Route.of("PATCH", query_job + r"/?", bq.patch),
            Route.of("DELETE", query_job + r"/?", bq.delete),
            Route.of("GET", query_job + r"/results/?", bq.results),
            Route.of("GET", r"/services/oauth2/userinfo/?", self._userinfo),
            Route.of("POST", _V + r"/tooling/sobjects/CustomField/?", t.create_custom_field),
            Route.of("PATCH", _V + r"/tooling/sobjects/CustomField/" + rid, t.update_custom_field),
            Route.of("GET", _V + r"/tooling/sobjects/CustomField/" + rid, t.get_custom_field),
            Route.of(
                "GET",
                _V + r"/tooling/query/?",
                lambda rq: q.query(rq, include_deleted=False, tooling=True),
            ),
            Route.of(
                "GET",
                _V + r"/tooling/query/" + loc,
                lambda rq: q.more(rq, rq.params["locator"], tooling=True),
            ),
        ]

    def _token(self, request: Request) -> Response:
        return self.sessions.token_endpoint(request, self.base_url)

    def _userinfo(self, request: Request) -> Response:
        if not self.sessions.check(request.header("authorization")):
            # Salesforce answers a bad token here with a plain `Bad_OAuth_Token`; the
            # REST error shape is used so that SDKs that parse JSON errors do not crash.
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        user = self.store.get("User", self.store.api_user_id) or {}
        return json_response(
            200,
            {
                "sub": f"{self.base_url}/id/{ORG_ID}/{self.store.api_user_id}",
                "user_id": self.store.api_user_id,
                "organization_id": ORG_ID,
                "preferred_username": user.get("Username"),
                "name": user.get("Name"),
                "email": user.get("Email"),
                "email_verified": True,
                "active": True,
                "user_type": "STANDARD",
            },
        )

    def _versions(self, request: Request) -> Response:
        return json_response(
            200,
            [
                {"label": f"Sandbox {v}", "url": f"/services/data/v{v}", "version": v}
                for v in API_VERSIONS
            ],
        )

    def _resources(self, request: Request) -> Response:
        base = f"/services/data/v{request.params['version']}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs", "tooling")
        return json_response(200, {name: f"{base}/{name}" for name in names})

    def _limits(self, request: Request) -> Response:
        if not self.limits_permission:
            # The documentation names the permission but not the error body. Guessed: the REST
            # error shape with INSUFFICIENT_ACCESS; one public report shows API_DISABLED_FOR_ORG
            # from /limits (forceworkbench/forceworkbench#681). The connector takes any 403 but
            # the daily quota's alike, so the code decides no behaviour.
            return sf_error(
                403,
                "INSUFFICIENT_ACCESS",
                "You do not have the permission required to view the org's limits (View Setup "
                "and Configuration).",
            )
        used, limit = self.api_usage
        body: dict[str, Any] = {
            "DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
        }
        return json_response(200, body)
