"""Credentials for HubSpot: a private app's access token, or OAuth tokens renewed on expiry.

Secrets come from their ``KAM_SYNC_HUBSPOT_*`` variables (``SECRET_ENV_VARS``), in the environment
or the OS keyring (``kam_sync.config.secret_lookup``), and live in these objects; no message or
``repr`` ever shows them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kam_sync.config import secret_lookup
from kam_sync.errors import AuthError
from kam_sync_connectors.hubspot.settings import SECRET_ENV_VARS, HubSpotSettings

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What the OAuth token endpoint answered."""

    access_token: str = field(repr=False)
    expires_in: float
    refresh_token: str | None = field(default=None, repr=False)


# Exchanges a refresh token for a new grant: (client_id, client_secret, refresh_token) -> grant.
RefreshFn = Callable[[str, str, str], TokenGrant]


class PrivateAppToken:
    """A private app's access token: it does not expire, so it cannot be renewed."""

    renewable = False

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "PrivateAppToken(***)"

    def access_token(self) -> str:
        return self._token

    def renew(self) -> None:
        raise AuthError("hubspot: the private app token was refused; create a new one")


class OAuthTokens:
    """OAuth access + refresh tokens; the access token is renewed shortly before it expires,
    and once more if HubSpot refuses it anyway (a 401)."""

    renewable = True

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        refresh: RefreshFn,
        access_token: str | None = None,
        margin_seconds: float = 60.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._refresh = refresh
        self._access_token = access_token
        # An access token handed in from the environment has an unknown age: use it until
        # it is refused.
        self._expires_at = float("inf") if access_token else 0.0
        self._margin = margin_seconds
        self._clock = clock
        self.renewals = 0

    def __repr__(self) -> str:
        return "OAuthTokens(***)"

    def access_token(self) -> str:
        if self._access_token is None or self._clock() >= self._expires_at - self._margin:
            self.renew()
        assert self._access_token is not None
        return self._access_token

    def renew(self) -> None:
        grant = self._refresh(self._client_id, self._client_secret, self._refresh_token)
        self._access_token = grant.access_token
        self._expires_at = self._clock() + grant.expires_in
        if grant.refresh_token:
            self._refresh_token = grant.refresh_token
        self.renewals += 1


TokenSource = PrivateAppToken | OAuthTokens


def credentials_from_env(
    settings: HubSpotSettings, environ: Mapping[str, str], refresh: RefreshFn
) -> TokenSource:
    """The token source the settings ask for, from secret variables (``environ`` is usually a
    ``SecretLookup``: environment, then keyring); AuthError names every variable that is
    missing (never a value)."""
    if settings.auth == "private_app":
        var = SECRET_ENV_VARS["token"]
        token = environ.get(var, "").strip()
        if not token:
            raise AuthError(
                f"hubspot: set {var} to the private app's access token, in {secret_lookup.WHERE}"
            )
        return PrivateAppToken(token)
    names = {key: SECRET_ENV_VARS[key] for key in ("client_id", "client_secret", "refresh_token")}
    values = {key: environ.get(var, "").strip() for key, var in names.items()}
    missing = [names[key] for key, value in values.items() if not value]
    if missing:
        raise AuthError(f"hubspot: OAuth needs {', '.join(missing)} in {secret_lookup.WHERE}")
    return OAuthTokens(
        client_id=values["client_id"],
        client_secret=values["client_secret"],
        refresh_token=values["refresh_token"],
        refresh=refresh,
        access_token=environ.get(SECRET_ENV_VARS["access_token"], "").strip() or None,
        margin_seconds=settings.token_refresh_margin_seconds,
    )
