"""Start a sandbox CRM: in-process for tests (`running_sandbox`) or as `kam-sync sandbox serve`.

    with running_sandbox("salesforce", accounts=500) as sandbox:
        sandbox.base_url, sandbox.credentials, sandbox.ca_cert_path
        sandbox.app.store.human_edit("Account", account_id, Name="Renamed")
        sandbox.stats()["requests"]

Clients of the Salesforce side must trust `ca_cert_path`. Note that `requests` lets the
`REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` environment variables override `session.verify`
unless `session.trust_env` is off or `verify=` is passed per request; `requests_session()`
returns a session set up correctly.
"""

from __future__ import annotations

import gc
import json
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests

from kam_sync.sandbox.faults import FaultInjector, FaultSpec
from kam_sync.sandbox.server import CrmApp, SandboxServer
from kam_sync.sandbox.stats import SandboxStats

Crm = Literal["salesforce", "hubspot"]


@dataclass
class SandboxHandle:
    """A running sandbox: where it is, how to log in, and its state and counters."""

    crm: Crm
    base_url: str
    credentials: dict[str, str]
    ca_cert_path: Path | None
    app: Any  # SalesforceApp or HubSpotApp: tests mutate data through it
    server: SandboxServer = field(repr=False)

    def stats(self) -> dict[str, Any]:
        """The counters `GET /__sandbox/stats` returns."""
        return self.server.stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.server.stats.reset()

    def set_faults(self, faults: FaultSpec | str | Mapping[str, object] | None) -> None:
        """Replace the fault spec (and restart its deterministic sequence)."""
        self.server.set_faults(FaultSpec.coerce(faults))

    def requests_session(self) -> requests.Session:
        """A `requests` session that trusts the sandbox's certificate whatever the env says."""
        session = requests.Session()
        if self.ca_cert_path is not None:
            session.trust_env = False
            session.verify = str(self.ca_cert_path)
        return session

    def connection_info(self) -> dict[str, Any]:
        """The JSON line `kam-sync sandbox serve` prints."""
        return {
            "crm": self.crm,
            "base_url": self.base_url,
            "credentials": self.credentials,
            "ca_cert_path": None if self.ca_cert_path is None else str(self.ca_cert_path),
        }


def _salesforce_app(
    workdir: Path,
    *,
    accounts: int,
    seed: int,
    data_file: Path | None,
    faults: FaultInjector,
    stats: SandboxStats,
    daily_api_limit: int | None,
    kam_inputs: bool = True,
) -> CrmApp:
    from kam_sync.sandbox.portfolio import generate_portfolio
    from kam_sync.sandbox.salesforce.app import DEFAULT_DAILY_API_LIMIT, SalesforceApp
    from kam_sync.sandbox.salesforce.auth import make_credentials
    from kam_sync.sandbox.salesforce.seed import seed_store
    from kam_sync.sandbox.salesforce.standard_objects import standard_registry
    from kam_sync.sandbox.salesforce.store import SalesforceStore

    saved = None
    if data_file is not None and data_file.exists():
        saved = SalesforceStore.read_data_file(data_file)
        # The file's own seed wins: its changes only make sense on top of it.
        accounts, seed = int(saved["origin"]["accounts"]), int(saved["origin"]["seed"])
    store = SalesforceStore(standard_registry(kam_inputs=kam_inputs))
    seed_store(store, generate_portfolio(accounts, seed))
    store.origin = {"accounts": accounts, "seed": seed}
    if saved is not None:
        store.apply_saved(saved)
    credentials, public_pem = make_credentials(workdir, seed)
    return SalesforceApp(
        store,
        credentials=credentials,
        public_key_pem=public_pem,
        faults=faults,
        stats=stats,
        daily_api_limit=daily_api_limit or DEFAULT_DAILY_API_LIMIT,
    )


def _hubspot_app(
    *,
    accounts: int,
    seed: int,
    data_file: Path | None,
    faults: FaultInjector,
    stats: SandboxStats,
    rate_limit_tier: int,
    daily_api_limit: int | None,
    kam_inputs: bool = True,
) -> CrmApp:
    from kam_sync.sandbox.hubspot.app import HubSpotApp
    from kam_sync.sandbox.hubspot.standard_properties import remove_kam_inputs
    from kam_sync.sandbox.portfolio import generate_portfolio

    app = HubSpotApp(
        generate_portfolio(accounts, seed),
        rate_limit_tier=rate_limit_tier,
        faults=faults,
        stats=stats,
        seed=seed,
        daily_limit=daily_api_limit,
    )
    if not kam_inputs:
        remove_kam_inputs(app.store.companies)
    if data_file is not None and data_file.exists():
        app.load_state(json.loads(data_file.read_text()))
    return app


def _save(crm: Crm, app: Any, data_file: Path) -> None:
    data_file.parent.mkdir(parents=True, exist_ok=True)
    if crm == "salesforce":
        app.store.save(data_file)
        return
    temporary = data_file.with_name(data_file.name + ".tmp")
    temporary.write_text(json.dumps(app.dump_state(), separators=(",", ":")))
    temporary.replace(data_file)


@contextmanager
def running_sandbox(
    crm: Crm,
    *,
    accounts: int = 200,
    seed: int = 1,
    faults: FaultSpec | str | Mapping[str, object] | None = None,
    data_file: Path | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    rate_limit_tier: int = 190,
    daily_api_limit: int | None = None,
    tls: bool | None = None,
    kam_inputs: bool = True,
    state_dir: Path | None = None,
) -> Iterator[SandboxHandle]:
    """Seed and serve a sandbox CRM in a background thread for the `with` block.

    `port=0` picks a free port. With `data_file`, state is loaded from it when it exists
    and written back when the block ends. `tls` serves https with a throw-away CA (its file is
    `ca_cert_path`); by default the Salesforce side speaks TLS (it must) and HubSpot plain http.
    `kam_inputs=False` starts an org without the KAM input fields, as a new customer's is.
    `state_dir` keeps the CA, the keys and (unless `data_file` says otherwise) the data in
    that folder across restarts instead of a temporary one.
    """
    if crm not in ("salesforce", "hubspot"):
        raise ValueError(f"crm must be 'salesforce' or 'hubspot', got {crm!r}")
    spec = FaultSpec.coerce(faults)
    injector = FaultInjector(spec, seed=seed)
    stats = SandboxStats()
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
        data_file = data_file or state_dir / f"{crm}-data.json"
    workdir = state_dir or Path(tempfile.mkdtemp(prefix=f"kam-sync-sandbox-{crm}-"))
    server: SandboxServer | None = None
    try:
        ssl_context = None
        ca_cert_path: Path | None = None
        if crm == "salesforce" and tls is False:
            raise ValueError(
                "the Salesforce sandbox always speaks TLS (simple-salesforce uses https)"
            )
        if crm == "salesforce" or tls:
            from kam_sync.sandbox.tls import generate_tls_material, kept_tls_material

            tls_dir = workdir / "tls"
            material = kept_tls_material(tls_dir) if state_dir else generate_tls_material(tls_dir)
            ssl_context = material.server_context()
            ca_cert_path = material.ca_cert_path
        if crm == "salesforce":
            app: Any = _salesforce_app(
                workdir, accounts=accounts, seed=seed, data_file=data_file, faults=injector,
                stats=stats, daily_api_limit=daily_api_limit, kam_inputs=kam_inputs,
            )  # fmt: skip
        else:
            app = _hubspot_app(
                accounts=accounts, seed=seed, data_file=data_file, faults=injector, stats=stats,
                rate_limit_tier=rate_limit_tier, daily_api_limit=daily_api_limit,
                kam_inputs=kam_inputs,
            )  # fmt: skip
        # Seeded records live as long as the sandbox; keeping them out of the collector's
        # generations stops full collections from stalling requests on large portfolios.
        gc.collect()
        gc.freeze()
        server = SandboxServer(
            app, host=host, port=port, ssl_context=ssl_context, stats=stats, faults=injector
        )
        if crm == "salesforce":
            app.base_url = server.base_url
        credentials = (
            app.sessions.credentials.as_dict() if crm == "salesforce" else app.credentials()
        )
        server.start()
        yield SandboxHandle(
            crm=crm,
            base_url=server.base_url,
            credentials=credentials,
            ca_cert_path=ca_cert_path,
            app=app,
            server=server,
        )
    finally:
        if server is not None:
            server.stop()
            if data_file is not None:
                _save(crm, server.app, data_file)
        gc.unfreeze()
        if state_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def serve(
    crm: Crm,
    *,
    port: int,
    accounts: int,
    seed: int,
    data_file: Path | None,
    faults: str | None,
    rate_limit_tier: int,
    host: str = "127.0.0.1",
    print_line: Any = print,
    stop: threading.Event | None = None,
    kam_inputs: bool = True,
    state_dir: Path | None = None,
) -> int:
    """Run a sandbox until `stop` is set (the CLI sets it on SIGINT/SIGTERM)."""
    stop_event = stop or threading.Event()
    with running_sandbox(
        crm,
        accounts=accounts,
        seed=seed,
        faults=faults,
        data_file=data_file,
        port=port,
        host=host,
        rate_limit_tier=rate_limit_tier,
        kam_inputs=kam_inputs,
        state_dir=state_dir,
    ) as handle:
        print_line(json.dumps(handle.connection_info()))
        # A timed wait keeps the main thread responsive to signal handlers.
        while not stop_event.wait(0.5):
            pass
    return 0
