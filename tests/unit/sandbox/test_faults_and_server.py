"""The shared sandbox server: routing, hooks, injected faults and the built-in endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kam_sync.sandbox.faults import FaultInjector, FaultSpec
from kam_sync.sandbox.server import (
    CrmApp,
    HttpError,
    Request,
    Response,
    Route,
    SandboxServer,
    json_response,
)
from kam_sync.sandbox.tls import generate_tls_material


class EchoApp(CrmApp):
    crm = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.expired = 0
        self.routes = [
            Route.of("GET", r"/items/(?P<item>\w+)", self.get_item),
            Route.of("POST", r"/items", self.post_item),
            Route.of("GET", r"/boom", self.boom),
        ]

    def endpoint_kind(self, method: str, path: str) -> str:
        return "write" if method == "POST" else "read"

    def get_item(self, request: Request) -> Response:
        if request.params["item"] == "missing":
            raise HttpError(json_response(404, {"error": "no such item"}))
        return json_response(200, {"item": request.params["item"], "q": request.query_one("q")})

    def post_item(self, request: Request) -> Response:
        return json_response(201, {"got": request.json()})

    def boom(self, request: Request) -> Response:
        raise RuntimeError("handler bug")

    def bad_json(self, request: Request, reason: str) -> Response:
        return json_response(400, {"code": "BAD_JSON"})

    def expire_sessions(self) -> None:
        self.expired += 1


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    sandbox = SandboxServer(EchoApp(), faults=FaultInjector(seed=4))
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_routes_pass_path_parameters_and_query_strings(server: SandboxServer) -> None:
    response = requests.get(f"{server.base_url}/items/abc", params={"q": "x y"}, timeout=5)
    assert response.json() == {"item": "abc", "q": "x y"}
    assert response.headers["Content-Type"].startswith("application/json")


def test_unknown_paths_methods_and_handler_errors_get_answers(server: SandboxServer) -> None:
    assert requests.get(f"{server.base_url}/nowhere", timeout=5).status_code == 404
    assert requests.delete(f"{server.base_url}/items/abc", timeout=5).status_code == 405
    assert requests.get(f"{server.base_url}/items/missing", timeout=5).json() == {
        "error": "no such item"
    }
    assert requests.get(f"{server.base_url}/boom", timeout=5).status_code == 500
    bad = requests.post(f"{server.base_url}/items", data=b"{oops", timeout=5)
    assert (bad.status_code, bad.json()) == (400, {"code": "BAD_JSON"})


def test_one_keep_alive_connection_serves_many_requests(server: SandboxServer) -> None:
    session = requests.Session()
    for n in range(20):
        assert session.get(f"{server.base_url}/items/i{n}", timeout=5).status_code == 200
    assert server.stats.requests(kind="read", method="GET") == 20


def test_injected_faults_are_counted_and_retry_after_rounds_up(server: SandboxServer) -> None:
    server.set_faults(FaultSpec.parse("read:429=1,retry_after=0.2;write:503=1"))
    limited = requests.get(f"{server.base_url}/items/a", timeout=5)
    unavailable = requests.post(f"{server.base_url}/items", json={}, timeout=5)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "1")
    assert unavailable.status_code == 503
    assert "Retry-After" not in unavailable.headers
    stats = requests.get(f"{server.base_url}/__sandbox/stats", timeout=5).json()
    assert stats["faults"] == {"429": 1, "503": 1}
    assert stats["requests"] == {"read": {"GET": 1}, "write": {"POST": 1}}


def test_dropped_connections_and_session_expiry_reach_the_client_and_the_app(
    server: SandboxServer,
) -> None:
    requests.post(f"{server.base_url}/__sandbox/faults", json={"spec": "drop=1"}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.base_url}/items/a", timeout=5)
    server.set_faults(FaultSpec.parse("session_expiry=2"))
    for _ in range(4):
        requests.get(f"{server.base_url}/items/a", timeout=5)
    assert isinstance(server.app, EchoApp)
    assert server.app.expired == 2


def test_reset_zeroes_the_counters_and_sandbox_requests_are_not_counted(
    server: SandboxServer,
) -> None:
    requests.get(f"{server.base_url}/items/a", timeout=5)
    requests.post(f"{server.base_url}/__sandbox/reset", timeout=5)
    stats = requests.get(f"{server.base_url}/__sandbox/stats", timeout=5).json()
    assert stats["requests_total"] == 0
    assert stats["faults_total"] == 0


def test_tls_certificate_is_trusted_for_127_0_0_1_and_localhost(tmp_path: Path) -> None:
    material = generate_tls_material(tmp_path / "tls")
    sandbox = SandboxServer(EchoApp(), ssl_context=material.server_context())
    sandbox.start()
    try:
        session = requests.Session()
        session.trust_env = False
        session.verify = str(material.ca_cert_path)
        assert sandbox.base_url.startswith("https://127.0.0.1:")
        for host in ("127.0.0.1", "localhost"):
            url = f"https://{host}:{sandbox.port}/items/a"
            assert session.get(url, timeout=5).json()["item"] == "a"
        with pytest.raises(requests.exceptions.SSLError):
            untrusted = requests.Session()
            untrusted.trust_env = False
            untrusted.get(f"{sandbox.base_url}/items/a", timeout=5)
    finally:
        sandbox.stop()
