"""The sandbox's HTTP/1.1 server, shared by the Salesforce and HubSpot emulators.

A CRM side is a `CrmApp`: a route table (method + path regex -> handler), an endpoint-kind
classifier for accounting and faults, and a few hooks (auth, error bodies in the CRM's own
format, extra response headers). The server adds what both sides share: keep-alive, optional
TLS, fault injection before routing, request counting, and the built-in endpoints

    GET  /__sandbox/stats    counters (see `SandboxStats.snapshot`)
    POST /__sandbox/reset    zero the counters
    POST /__sandbox/faults   {"spec": "<fault spec string>"} replaces the fault spec

Handlers take a `Request` and return a `Response`, or raise `HttpError` carrying one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kam_sync.sandbox.faults import FaultDecision, FaultInjector, FaultSpec
from kam_sync.sandbox.stats import SandboxStats

log = logging.getLogger(__name__)

INTERNAL_PREFIX = "/__sandbox/"
_STATUSES = frozenset(s.value for s in HTTPStatus)


@dataclass(slots=True)
class Request:
    """One parsed HTTP request, as a handler sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    kind: str = "other"

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header, case-insensitively."""
        value = self.headers.get(name)
        return default if value is None else value

    def query_one(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query-string parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON; raises `HttpError` 400 (plain JSON body) when it is not."""
        try:
            return json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadJsonBody(str(exc)) from exc


@dataclass(slots=True)
class Response:
    """One HTTP response; `body` is already encoded."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """Raised by a handler to answer with `response` (an error in the CRM's format)."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


class BadJsonBody(HttpError):
    """The request body is not JSON; the server asks the CRM side for its error body."""

    def __init__(self, reason: str) -> None:
        super().__init__(json_response(400, {"message": f"invalid JSON body: {reason}"}))
        self.reason = reason


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode_json(payload: object) -> bytes:
    """Compact JSON, with Decimal and date/datetime handled."""
    return json.dumps(payload, separators=(",", ":"), default=_json_default).encode()


def json_response(
    status: int, payload: object, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response."""
    return Response(status, encode_json(payload), headers=dict(headers or {}))


def empty_response(status: int = 204, headers: Mapping[str, str] | None = None) -> Response:
    """A response without a body (204 No Content and friends)."""
    return Response(status, b"", content_type=None, headers=dict(headers or {}))


def text_response(
    status: int, text: str, content_type: str = "text/csv", headers: Mapping[str, str] | None = None
) -> Response:
    """A text response (CSV results of Bulk API jobs, for instance)."""
    return Response(status, text.encode(), content_type=content_type, headers=dict(headers or {}))


Handler = Callable[[Request], Response]


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of a route table; `pattern` must match the whole path."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler

    @classmethod
    def of(cls, method: str, pattern: str, handler: Handler) -> Route:
        """Build a route from a regex string (named groups become `Request.params`)."""
        return cls(method.upper(), re.compile(pattern), handler)


class CrmApp:
    """Base of a CRM side: routes, the endpoint-kind classifier and hooks.

    Subclasses set `crm` and `routes`, and override what differs from the defaults.
    """

    crm: str = "crm"
    routes: list[Route]

    def __init__(self) -> None:
        self.routes = []

    def endpoint_kind(self, method: str, path: str) -> str:
        """The endpoint kind a request counts under (`query`, `write`, `auth`, ...)."""
        return "other"

    def before_route(self, request: Request) -> Response | None:
        """Run before routing (auth, quotas); a response returned here is sent instead."""
        return None

    def finish_response(self, request: Request, response: Response) -> None:
        """Add headers every response carries (quota headers, for instance)."""

    def fault_response(
        self, request: Request, status: int, retry_after_s: float | None
    ) -> Response:
        """The body an injected 429/503 carries, in the CRM's format."""
        headers = {} if retry_after_s is None else {"Retry-After": _retry_after(retry_after_s)}
        return json_response(status, {"message": "injected fault"}, headers)

    def bad_json(self, request: Request, reason: str) -> Response:
        """The answer when a request body that must be JSON is not."""
        return json_response(400, {"message": f"invalid JSON body: {reason}"})

    def not_found(self, request: Request) -> Response:
        """The answer for a path no route matches."""
        return json_response(404, {"message": f"no route for {request.method} {request.path}"})

    def method_not_allowed(self, request: Request) -> Response:
        """The answer for a known path with an unsupported method."""
        return json_response(405, {"message": f"method {request.method} not allowed"})

    def internal_error(self, request: Request, exc: BaseException) -> Response:
        """The answer when a handler raised an unexpected exception."""
        return json_response(500, {"message": f"sandbox error: {type(exc).__name__}: {exc}"})

    def expire_sessions(self) -> None:
        """Invalidate every session/token the CRM has handed out (`session_expiry` fault)."""

    def on_faults_changed(self, spec: FaultSpec) -> None:
        """React to a new fault spec (the `quota` setting, for instance)."""


def _retry_after(seconds: float) -> str:
    # Retry-After is whole seconds on the wire (RFC 9110); round up so a client never
    # retries earlier than asked.
    return str(max(0, int(-(-seconds // 1))))


class SandboxServer:
    """A threaded HTTP/1.1 server around one `CrmApp`, optionally over TLS."""

    def __init__(
        self,
        app: CrmApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        stats: SandboxStats | None = None,
        faults: FaultInjector | None = None,
    ) -> None:
        self.app = app
        self.stats = stats or SandboxStats()
        self.faults = faults or FaultInjector()
        self._ssl_context = ssl_context
        self._httpd = _ThreadingServer((host, port), _RequestHandler, sandbox=self)
        if ssl_context is not None:
            # The handshake runs in the connection's worker thread (on first read), so a
            # slow or broken client never blocks the accept loop.
            self._httpd.socket = ssl_context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        """The bound host."""
        return str(self._httpd.server_address[0])

    @property
    def base_url(self) -> str:
        """`https://127.0.0.1:PORT` or `http://...`, without a trailing slash."""
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-{self.app.crm}-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop` is called from another thread."""
        self._httpd.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        """Stop accepting, close open keep-alive connections and the listening socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()

    def set_faults(self, spec: FaultSpec) -> None:
        """Replace the fault spec while serving (and tell the CRM side)."""
        self.faults.set_spec(spec)
        self.app.on_faults_changed(spec)

    # -- the request pipeline ------------------------------------------------------------

    def dispatch(self, request: Request) -> Response | None:
        """Serve one request; None means: drop the connection without an answer."""
        if request.path.startswith(INTERNAL_PREFIX):
            return self._internal(request)
        app = self.app
        request.kind = app.endpoint_kind(request.method, request.path)
        self.stats.count_request(request.kind, request.method)
        decision = self.faults.decide_request(request.kind)
        response = self._inject(request, decision)
        if response is None and decision.drop:
            return None
        if response is None:
            response = app.before_route(request)
        if response is None:
            response = self._route(request)
        app.finish_response(request, response)
        if decision.lose_reply:
            # Served (a write is applied), but the client never hears of it.
            self.stats.count_fault("lost")
            return None
        return response

    def _inject(self, request: Request, decision: FaultDecision) -> Response | None:
        if decision.expire_sessions:
            self.stats.count_fault("session_expiry")
            self.app.expire_sessions()
        if decision.delay_s > 0:
            time.sleep(decision.delay_s)
        if decision.drop:
            self.stats.count_fault("drop")
            return None
        if decision.status is not None:
            self.stats.count_fault(str(decision.status))
            return self.app.fault_response(request, decision.status, decision.retry_after_s)
        return None

    def _route(self, request: Request) -> Response:
        app = self.app
        path_matched = False
        for route in app.routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            path_matched = True
            if route.method != request.method:
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            try:
                return route.handler(request)
            except BadJsonBody as exc:
                return app.bad_json(request, exc.reason)
            except HttpError as exc:
                return exc.response
            except Exception as exc:
                log.exception("sandbox handler failed: %s %s", request.method, request.path)
                return app.internal_error(request, exc)
        return app.method_not_allowed(request) if path_matched else app.not_found(request)

    def _internal(self, request: Request) -> Response:
        name = request.path[len(INTERNAL_PREFIX) :].rstrip("/")
        if name == "stats" and request.method == "GET":
            return json_response(200, self.stats.snapshot())
        if name == "reset" and request.method == "POST":
            self.stats.reset()
            return json_response(200, {"reset": True})
        if name == "faults" and request.method == "POST":
            try:
                spec = FaultSpec.coerce(request.json().get("spec"))
            except (AttributeError, ValueError) as exc:
                return json_response(400, {"message": str(exc)})
            self.set_faults(spec)
            return json_response(200, {"faults": str(request.json().get("spec"))})
        if name == "health" and request.method == "GET":
            return json_response(200, {"crm": self.app.crm, "ok": True})
        return json_response(404, {"message": f"unknown sandbox endpoint {request.path}"})


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        sandbox: SandboxServer,
    ) -> None:
        self.sandbox = sandbox
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
            self._open.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-request (dropped-connection faults, killed tests) are
        # normal here; log at debug level instead of printing a traceback to stderr.
        log.debug("sandbox connection error from %s", client_address, exc_info=True)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, the header and body writes of one response meet the client's
    # delayed ACK and every request costs ~40 ms.
    disable_nagle_algorithm = True
    server_version = "kam-sync-sandbox"
    sys_version = ""
    server: _ThreadingServer

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command.upper(),
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=_Headers(self.headers.items()),
            body=body,
        )
        sandbox = self.server.sandbox
        try:
            response = sandbox.dispatch(request)
        except Exception as exc:  # a bug in a hook must still answer, not hang up
            log.exception("sandbox request failed: %s %s", request.method, request.path)
            response = sandbox.app.internal_error(request, exc)
        if response is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.log_request(response.status)
        reason = HTTPStatus(response.status).phrase if response.status in _STATUSES else ""
        head = [f"HTTP/1.1 {response.status} {reason}"]
        if response.content_type is not None:
            head.append(f"Content-Type: {response.content_type}")
        head.extend(f"{name}: {value}" for name, value in response.headers.items())
        head.append(f"Content-Length: {len(response.body)}")
        head.append(f"Date: {self.date_time_string()}")
        if self.close_connection:
            head.append("Connection: close")
        # One write for head and body: fewer TLS records and syscalls per response.
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(payload + response.body if self.command != "HEAD" else payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox %s - %s", self.address_string(), format % args)


class _Headers(dict[str, str]):
    """Request headers with case-insensitive lookup."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())
