"""Getting an access token: OAuth 2.0 JWT bearer, client credentials, username-password, or a
ready session id.

The token request is made here rather than through simple-salesforce's login helpers because
those build ``https://{domain}.salesforce.com`` URLs, which cannot express a My Domain login URL
with a path, nor the sandbox CRM; and they turn a 503 from the token endpoint into an
authentication failure, which would stop a run that a retry would have saved. The flows and
their parameters follow the Salesforce Help pages "OAuth 2.0 JWT Bearer Flow for Server-to-Server
Integration", "OAuth 2.0 Client Credentials Flow" and "OAuth 2.0 Username-Password Flow".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import requests

from kam_sync.errors import AuthError
from kam_sync_connectors.salesforce.credentials import Credentials, check_credentials
from kam_sync_connectors.salesforce.error_map import CONNECTOR, error_body, for_status
from kam_sync_connectors.salesforce.settings import MY_DOMAIN_FIX, SalesforceSettings

log = logging.getLogger(__name__)

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 (a URL path, not a secret)
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce accepts JWT assertions that expire within 3 minutes.
JWT_LIFETIME_SECONDS = 180
# Salesforce is retiring the username-password flow (Salesforce Help, knowledge article
# 000886201, "Username-Password Flow Retirement"), and orgs increasingly block it.
RETIRED_FLOW_WARNING = (
    "salesforce: auth: password uses the OAuth username-password flow, which Salesforce is "
    "retiring (Help article 000886201) and many orgs block; switch to auth: jwt or "
    "auth: client_credentials (see the README, 'Salesforce set-up')"
)
# The token endpoint's answer to client credentials on login/test.salesforce.com.
_WRONG_DOMAIN = "not supported on this domain"
_password_flow_warned = False


def warn_password_flow_once() -> None:
    """Log the username-password flow's deprecation, once per process."""
    global _password_flow_warned
    if not _password_flow_warned:
        _password_flow_warned = True
        log.warning("%s", RETIRED_FLOW_WARNING)


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """An access token and where to use it. ``user_id`` when the token response named it."""

    access_token: str
    instance_url: str
    user_id: str | None = None

    def __repr__(self) -> str:
        return f"AccessGrant(access_token='***', instance_url={self.instance_url!r})"


def jwt_audience(settings: SalesforceSettings) -> str:
    """The ``aud`` claim: Salesforce wants login/test.salesforce.com even for My Domain logins."""
    if settings.jwt_audience:
        return settings.jwt_audience
    host = (urlsplit(str(settings.login_url)).hostname or "").lower()
    if host.endswith((".salesforce.com", ".force.com")):
        if host == "test.salesforce.com" or ".sandbox." in host:
            return "https://test.salesforce.com"
        return "https://login.salesforce.com"
    return str(settings.login_url).rstrip("/")


def _token_url(settings: SalesforceSettings) -> str:
    return str(settings.login_url).rstrip("/") + TOKEN_PATH


def _form(settings: SalesforceSettings, credentials: Credentials) -> dict[str, str]:
    if settings.auth == "jwt":
        client_id, username, key_file = credentials.require(
            "jwt", "client_id", "username", "private_key_file"
        )
        try:
            key = Path(key_file.reveal()).read_bytes()
        except OSError as exc:
            raise AuthError(
                f"{CONNECTOR}: cannot read the private key named by KAM_SYNC_SF_PRIVATE_KEY_FILE "
                f"({type(exc).__name__})"
            ) from exc
        claims = {
            "iss": client_id.reveal(),
            "sub": username.reveal(),
            "aud": jwt_audience(settings),
            "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
        }
        try:
            assertion = jwt.encode(claims, key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise AuthError(
                f"{CONNECTOR}: the private key in KAM_SYNC_SF_PRIVATE_KEY_FILE cannot sign a JWT "
                f"({type(exc).__name__})"
            ) from exc
        return {"grant_type": JWT_GRANT, "assertion": assertion}
    if settings.auth == "client_credentials":
        client_id, client_secret = credentials.require(
            "client_credentials", "client_id", "client_secret"
        )
        return {
            "grant_type": "client_credentials",
            "client_id": client_id.reveal(),
            "client_secret": client_secret.reveal(),
        }
    warn_password_flow_once()
    client_id, client_secret, username, password = credentials.require(
        "password", "client_id", "client_secret", "username", "password"
    )
    token = credentials.security_token.reveal() if credentials.security_token else ""
    return {
        "grant_type": "password",
        "client_id": client_id.reveal(),
        "client_secret": client_secret.reveal(),
        "username": username.reveal(),
        # The username-password flow takes the security token appended to the password.
        "password": password.reveal() + token,
    }


def _user_id(identity_url: object) -> str | None:
    # The token response's ``id`` is https://login.salesforce.com/id/<org id>/<user id>.
    if not isinstance(identity_url, str) or "/id/" not in identity_url:
        return None
    return identity_url.rstrip("/").rsplit("/", 1)[-1] or None


def obtain_grant(
    settings: SalesforceSettings, credentials: Credentials, session: requests.Session
) -> AccessGrant:
    """Log in with the configured flow. Raises AuthError, or RetriableApiError when transient."""
    check_credentials(settings, credentials)
    if settings.auth == "session":
        assert credentials.session_id is not None and settings.instance_url is not None
        return AccessGrant(credentials.session_id.reveal(), str(settings.instance_url).rstrip("/"))
    response = session.post(
        _token_url(settings),
        data=_form(settings, credentials),
        headers={"Accept": "application/json"},
    )
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if response.status_code != 200:
        if response.status_code in (400, 401, 403):
            code, message = error_body(body)
            # Token errors are {"error": ..., "error_description": ...}; neither holds a secret.
            hint = f"; {MY_DOMAIN_FIX}" if _WRONG_DOMAIN in message.lower() else ""
            raise AuthError(
                f"{CONNECTOR}: login ({settings.auth}) refused: {code or response.status_code}"
                + (f": {message}" if message else "")
                + hint
            )
        raise for_status(response.status_code, body, what="login", response=response)
    if not isinstance(body, dict) or not body.get("access_token") or not body.get("instance_url"):
        raise AuthError(f"{CONNECTOR}: login ({settings.auth}) answered without a token")
    return AccessGrant(
        str(body["access_token"]), str(body["instance_url"]).rstrip("/"), _user_id(body.get("id"))
    )
