"""Where a secret's value comes from: its environment variable, else the OS keyring.

Every secret kam-sync reads has a ``KAM_SYNC_*`` variable name. Its value is the variable's when
the variable is set and not blank; otherwise the OS keyring entry (the ``keyring`` package:
macOS Keychain, Windows Credential Locker, the Secret Service on Linux) whose service is
``kam-sync`` and whose user name is the variable's name:

    keyring set kam-sync KAM_SYNC_SF_CLIENT_SECRET

No keyring (a server without one) simply means "not set". A value found is never logged; only
where it came from is, at debug level.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

import keyring
import keyring.errors

log = logging.getLogger(__name__)
_values_read: set[str] = set()  # for log masking: values this process took from the keyring

KEYRING_SERVICE = "kam-sync"
SECRET_PREFIX = "KAM_SYNC_"  # noqa: S105 (a variable-name prefix, not a password)
WHERE = (
    f"the environment or the OS keyring (service '{KEYRING_SERVICE}', user name = the variable "
    "name)"
)


def keyring_value(name: str) -> str | None:
    """The keyring entry for secret variable ``name``, or None (also when there is no keyring)."""
    try:
        value = keyring.get_password(KEYRING_SERVICE, name)
    except keyring.errors.KeyringError as exc:
        log.debug("keyring not available for %s: %s", name, type(exc).__name__)
        return None
    if value is None or not value.strip():
        return None
    log.debug("%s read from the OS keyring", name)
    _values_read.add(value)
    return value


def values_read_from_keyring() -> frozenset[str]:
    """Every secret value this process has read from the keyring, so logs can mask them as
    they mask secret environment variables."""
    return frozenset(_values_read)


class SecretLookup(Mapping[str, str]):
    """``environ`` with a fallback: a ``KAM_SYNC_*`` name it lacks (or holds blank) is looked
    up in the OS keyring. Iterating lists the environment's names only (a keyring cannot be
    listed)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._from_keyring: dict[str, str | None] = {}

    def __getitem__(self, name: str) -> str:
        value = self._environ.get(name)
        if value is not None and value.strip():
            return value
        if name.startswith(SECRET_PREFIX):
            if name not in self._from_keyring:
                self._from_keyring[name] = keyring_value(name)
            found = self._from_keyring[name]
            if found is not None:
                return found
        if value is not None:
            return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)

    def __repr__(self) -> str:
        return "SecretLookup(environment, then OS keyring)"


def secret_lookup(environ: Mapping[str, str]) -> SecretLookup:
    """``environ`` with the keyring fallback (``environ`` itself when it already has it)."""
    return environ if isinstance(environ, SecretLookup) else SecretLookup(environ)
