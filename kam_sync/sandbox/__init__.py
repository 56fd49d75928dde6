"""The sandbox CRM: a local, stateful emulator of the Salesforce and HubSpot APIs.

Real SDKs (simple-salesforce, hubspot-api-client) run against it unmodified over HTTP(S).
Start one in-process with `running_sandbox` (kam_sync.sandbox.runner) or from the command
line with `kam-sync sandbox serve`.
"""

from __future__ import annotations
