"""The sandbox CRM: a local, stateful emulator of the Salesforce and HubSpot APIs.

Real SDKs (simple-salesforce, hubspot-api-client) run against it unmodified over HTTP(S).

    kam-sync sandbox serve --crm salesforce --accounts 1000 --seed 1 [--data org.json]
        [--faults "latency=20ms;write:lock=0.02"] [--port 8443]

prints one JSON line (`base_url`, `credentials`, `ca_cert_path`) and serves until Ctrl-C.
In Python, `kam_sync.sandbox.runner.running_sandbox(...)` starts one on a free port for the
length of a `with` block. `GET /__sandbox/stats`, `POST /__sandbox/reset` and
`POST /__sandbox/faults` expose the request counters and the fault spec.

The Salesforce side speaks HTTPS with a CA generated at start-up. `requests` replaces a
session's `verify` with `REQUESTS_CA_BUNDLE` when that variable is set, so a client must
pass `verify=` per request or turn `trust_env` off (`SandboxHandle.requests_session()`).
"""

from __future__ import annotations
