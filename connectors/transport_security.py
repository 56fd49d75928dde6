"""Transport security shared by every connector: no plain http, whose CA to trust, TLS errors.

* Plain ``http://`` is refused for any host but the local machine (the sandbox CRM): credentials,
  tokens and records would cross the network in clear text. Settings refuse it when they load
  (so ``kam-sync validate`` reports the YAML line) and connectors refuse it again when they
  connect, including URLs a CRM hands back (Salesforce's ``instance_url``).
* Which CA bundle to trust: the ``ca_bundle`` setting when given, which wins over the
  environment; else ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` (as ``requests`` reads them);
  else the system's default trust store (which honours ``SSL_CERT_FILE``).
* A failed TLS handshake is not retried (a certificate does not fix itself) and is reported in
  words: the host, what failed, and the setting to check.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from kam_sync.errors import ConfigError, FatalApiError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
CA_BUNDLE_ENV_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
TLS_ERROR_CODE = "KAM_TLS_FAILED"


def is_loopback(host: str | None) -> bool:
    """True for a host name or address of the local machine (127.0.0.0/8, ::1, localhost)."""
    if not host:
        return False
    bare = host.strip("[]").lower()
    if bare in LOOPBACK_NAMES or bare.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def plain_http_refusal(url: str) -> str | None:
    """Why ``url`` may not be used (plain http to another machine), or None when it may."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or is_loopback(parts.hostname):
        return None
    return (
        f"plain http:// to {parts.hostname} is refused: credentials and records would cross "
        "the network unencrypted; use https:// (http:// is allowed only for localhost, the "
        "sandbox CRM)"
    )


def require_secure_url(url: str, setting: str, *, connector: str) -> None:
    """Raise ConfigError when ``url`` is plain http to another machine (checked at connect)."""
    refusal = plain_http_refusal(url)
    if refusal is not None:
        raise ConfigError(f"{connector}: {setting}: {refusal}")


def ca_bundle_path(
    ca_bundle: Path | None, environ: Mapping[str, str], *, setting: str
) -> str | None:
    """The CA bundle to trust (see the module docstring), or None for the system default."""
    if ca_bundle is not None:
        if not ca_bundle.is_file():
            raise ConfigError(f"{setting}: no such file: {ca_bundle}")
        return str(ca_bundle)
    for name in CA_BUNDLE_ENV_VARS:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def find_ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl.SSLError`` at the root of a transport exception, if that is what it is."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        pending.extend(current.args)
    return None


def tls_failure(
    *, connector: str, what: str, host: str | None, setting: str, error: ssl.SSLError | None
) -> FatalApiError:
    """The error for a TLS handshake that failed: host, reason and the setting to check."""
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        reason = f"its certificate is not trusted ({error.verify_message})"
    elif error is not None and error.reason:
        reason = f"the TLS handshake failed ({error.reason})"
    else:
        reason = "the TLS handshake failed"
    return FatalApiError(
        f"{what}: TLS connection to {host or 'the server'} failed: {reason}; if a proxy or a "
        f"private CA signs its certificate, set {setting} to that CA's PEM file",
        error_code=TLS_ERROR_CODE,
        connector=connector,
    )
