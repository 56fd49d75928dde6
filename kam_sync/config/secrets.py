"""Refuse secrets in YAML: credentials belong in environment variables or the OS keyring.

Where the value is then read from, and the keyring entry's name: ``secret_lookup``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kam_sync.config.issues import ConfigIssue
from kam_sync.config.located import LocatedDocument
from kam_sync.config.secret_lookup import KEYRING_SERVICE
from kam_sync_connectors import registry

_SECRET_KEY = re.compile(
    r"(^|_)(password|passwd|passphrase|secret|client_secret|token|access_token|refresh_token|"
    r"security_token|private_key|api_key|apikey|session_id|credentials?)$",
    re.IGNORECASE,
)


def env_var_for(key: str, crm: str | None) -> str:
    """The environment variable that should hold the secret a YAML key tried to give."""
    lowered = key.lower()
    tables = [
        registry.entry(name).secret_settings for name in registry.crm_names() if crm in (None, name)
    ]
    for table in tables:
        if lowered in table:
            return table[lowered]
    for table in tables:
        for name, env in table.items():
            if lowered.endswith(name):
                return env
    if "store" in lowered or lowered in ("password", "passwd"):
        return (
            "KAM_SYNC_STORE_PASSWORD"
            if crm is None
            else _first(tables, "password", "KAM_SYNC_STORE_PASSWORD")
        )
    return "the matching KAM_SYNC_* environment variable (see the README)"


def _first(tables: list[Mapping[str, str]], key: str, default: str) -> str:
    for table in tables:
        if key in table:
            return table[key]
    return default


def secret_issues(doc: LocatedDocument, crm: str | None) -> list[ConfigIssue]:
    """One issue per key that looks like a secret. The value is never echoed."""
    found = []
    for loc, key in doc.walk_keys():
        if key.endswith("_env") or not _SECRET_KEY.search(key):
            continue
        env = env_var_for(key, crm)
        found.append(
            doc.issue(
                loc,
                f"'{key}' looks like a secret; secrets are never read from YAML. Remove it and set "
                f"{env} in the environment, or in the OS keyring (service '{KEYRING_SERVICE}', "
                "user name = the variable name)",
                prefer_key=True,
            )
        )
    return found
