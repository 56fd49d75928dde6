"""OAuth 2.0 for the Salesforce sandbox: the token endpoint and the sessions it hands out.

Grants at `POST /services/oauth2/token` (form-encoded), as Salesforce documents them:
- `password`: client_id, client_secret, username, password + security token appended;
- `client_credentials`: client id and secret in the form or in HTTP Basic auth, on the org's
  My Domain only (see `GENERIC_LOGIN_HOSTS`);
- `urn:ietf:params:oauth:grant-type:jwt-bearer`: an RS256 `assertion` whose `iss` is the
  consumer key, `sub` the username, `aud` the login URL, signed with the key whose
  certificate the connected app holds.

Errors use the OAuth body Salesforce sends: `{"error": ..., "error_description": ...}`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kam_sync.sandbox.server import Request, Response, json_response

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ORG_ID = "00DDn0000000KAMSYN"
# simple-salesforce builds the JWT audience from its `domain` argument; Salesforce wants
# the login host. The sandbox also accepts its own base URL.
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
# The client credentials flow is served only on the org's My Domain; on the shared login hosts
# the token endpoint answers 400 `invalid_grant` "request not supported on this domain"
# (Salesforce Help, "OAuth 2.0 Client Credentials Flow for Server-to-Server Integration": the
# token request goes to the My Domain URL; login.salesforce.com and test.salesforce.com are
# not supported). The sandbox listens on 127.0.0.1 only, so it names hosts by the request's
# `Host` header: `https://127.0.0.1:PORT` (the handle's `base_url`) stands for the org's My
# Domain, `https://localhost:PORT` (same server, its certificate covers both names) stands
# for login.salesforce.com, and a `Host: login.salesforce.com` or `test.salesforce.com`
# header is refused too. `SessionRegistry.generic_login_hosts` changes the set.
GENERIC_LOGIN_HOSTS = frozenset({"login.salesforce.com", "test.salesforce.com", "localhost"})
WRONG_DOMAIN = "request not supported on this domain"


@dataclass(frozen=True, slots=True)
class SalesforceCredentials:
    """What a client needs to log in to the sandbox; never logged by the sandbox."""

    client_id: str
    client_secret: str
    username: str
    password: str
    security_token: str
    private_key_path: Path

    def as_dict(self) -> dict[str, str]:
        """The credentials as printed by `kam-sync sandbox serve` and on the handle."""
        return {
            "client_id": self.client_id,
            "consumer_key": self.client_id,
            "client_secret": self.client_secret,
            "username": self.username,
            "password": self.password,
            "security_token": self.security_token,
            "private_key_path": str(self.private_key_path),
        }


def _kept_rsa_key(path: Path) -> rsa.RSAPrivateKey | None:
    """The RSA key a kept state folder holds (`sandbox serve --state-dir`), if any."""
    if not path.is_file():
        return None
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        return None
    return key if isinstance(key, rsa.RSAPrivateKey) else None


def make_credentials(directory: Path, seed: int) -> tuple[SalesforceCredentials, bytes]:
    """Credentials for one sandbox, and the PEM public key that verifies JWT assertions.

    Secrets are derived from the seed so that a restarted sandbox (`--data FILE`) accepts
    the same credentials; the RSA key is written to `directory`.
    """
    digest = hashlib.sha256(f"kam-sync-sandbox-salesforce:{seed}".encode()).hexdigest()
    key_path = directory / "jwt-private-key.pem"
    key = _kept_rsa_key(key_path)
    if key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    credentials = SalesforceCredentials(
        client_id="3MVG9sandbox." + digest[:40],
        client_secret=digest[40:64].upper(),
        username="kam-sync@sandbox.example.com",
        password="sandbox-" + digest[:12],
        security_token=digest[12:37].upper(),
        private_key_path=key_path,
    )
    return credentials, public_pem


@dataclass(slots=True)
class Session:
    user_id: str
    issued_at: dt.datetime


def _host_name(host: str | None) -> str:
    """The host name of a `Host` header, without the port, lower case."""
    name = (host or "").strip().lower()
    if name.startswith("["):  # an IPv6 literal: [::1]:8443
        return name.split("]", 1)[0] + "]"
    return name.rsplit(":", 1)[0] if ":" in name else name


def _error(status: int, code: str, description: str) -> Response:
    return json_response(status, {"error": code, "error_description": description})


class SessionRegistry:
    """Issues access tokens and checks them; `expire_all` models a session timeout."""

    def __init__(
        self,
        credentials: SalesforceCredentials,
        public_key_pem: bytes,
        *,
        user_id: str,
        lifetime: dt.timedelta = dt.timedelta(hours=2),
    ) -> None:
        self.credentials = credentials
        self.public_key_pem = public_key_pem
        self.user_id = user_id
        self.lifetime = lifetime
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._signing_key = secrets.token_bytes(32)
        self.generic_login_hosts: frozenset[str] = GENERIC_LOGIN_HOSTS

    def issue(self) -> str:
        """A new session id (`00D...!...`, the shape of a Salesforce session id)."""
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(72)}"
        with self._lock:
            self._sessions[token] = Session(self.user_id, dt.datetime.now(dt.UTC))
        return token

    def check(self, authorization: str | None) -> bool:
        """True when the `Authorization: Bearer` header names a live session."""
        if not authorization:
            return False
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            return False
        with self._lock:
            session = self._sessions.get(token.strip())
        if session is None:
            return False
        return dt.datetime.now(dt.UTC) - session.issued_at < self.lifetime

    def expire_all(self) -> None:
        """End every session (clients must log in again)."""
        with self._lock:
            self._sessions.clear()

    def token_endpoint(self, request: Request, base_url: str) -> Response:
        """`POST /services/oauth2/token`."""
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        form.update({k: v[0] for k, v in request.query.items() if k not in form})
        grant = form.get("grant_type")
        creds = self.credentials
        if grant == "password":
            if form.get("client_id") != creds.client_id:
                return _error(400, "invalid_client_id", "client identifier invalid")
            if not hmac.compare_digest(form.get("client_secret", ""), creds.client_secret):
                return _error(400, "invalid_client", "invalid client credentials")
            expected = creds.password + creds.security_token
            if form.get("username") != creds.username or not hmac.compare_digest(
                form.get("password", ""), expected
            ):
                return _error(400, "invalid_grant", "authentication failure")
            return self._token_response(base_url, refresh=False)
        if grant == "client_credentials":
            if _host_name(request.header("host")) in self.generic_login_hosts:
                return _error(400, "invalid_grant", WRONG_DOMAIN)
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            basic = request.header("authorization") or ""
            if basic.lower().startswith("basic "):
                try:
                    decoded = base64.b64decode(basic[6:].strip()).decode()
                except ValueError:
                    return _error(400, "invalid_client", "invalid client credentials")
                client_id, _, client_secret = decoded.partition(":")
            if client_id != creds.client_id:
                return _error(400, "invalid_client_id", "client identifier invalid")
            if not hmac.compare_digest(client_secret or "", creds.client_secret):
                return _error(400, "invalid_client", "invalid client credentials")
            return self._token_response(base_url, refresh=False)
        if grant == JWT_BEARER:
            return self._jwt_bearer(form.get("assertion"), base_url)
        return _error(400, "unsupported_grant_type", "grant type not supported")

    def _jwt_bearer(self, assertion: str | None, base_url: str) -> Response:
        if not assertion:
            return _error(400, "invalid_request", "assertion is required")
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                self.public_key_pem,
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["iss", "sub", "aud", "exp"]},
                leeway=dt.timedelta(seconds=30),
            )
        except jwt.ExpiredSignatureError:
            return _error(400, "invalid_grant", "expired authorization code")
        except jwt.PyJWTError:
            return _error(400, "invalid_grant", "invalid assertion")
        if claims.get("iss") != self.credentials.client_id:
            return _error(400, "invalid_client_id", "client identifier invalid")
        if claims.get("sub") != self.credentials.username:
            return _error(400, "invalid_grant", "user hasn't approved this consumer")
        audience = str(claims.get("aud"))
        if audience not in (*LOGIN_AUDIENCES, base_url) and not audience.startswith(base_url):
            return _error(400, "invalid_grant", "audience is invalid")
        return self._token_response(base_url, refresh=False)

    def _token_response(self, base_url: str, *, refresh: bool) -> Response:
        token = self.issue()
        issued_at = str(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        identity = f"{base_url}/id/{ORG_ID}/{self.user_id}"
        signature = base64.b64encode(
            hmac.new(self._signing_key, (identity + issued_at).encode(), "sha256").digest()
        ).decode()
        body = {
            "access_token": token,
            "instance_url": base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
            "scope": "api",
        }
        return json_response(200, body)
