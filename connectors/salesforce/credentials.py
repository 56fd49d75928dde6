"""Salesforce credentials from ``KAM_SYNC_SF_*`` variables: the environment, else the OS keyring.

A ``Secret`` never shows its value in ``repr``/``str``, so a credential that ends up in a log line
or an exception message prints as ``***``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kam_sync.config.secret_lookup import WHERE, secret_lookup
from kam_sync.errors import AuthError
from kam_sync_connectors.salesforce.settings import SECRET_ENV_VARS, SalesforceSettings


class Secret:
    """A credential value that hides itself when printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Credentials:
    """Whatever the environment holds; which ones a flow needs is checked by ``require``."""

    client_id: Secret | None = None
    client_secret: Secret | None = None
    username: Secret | None = None
    password: Secret | None = None
    security_token: Secret | None = None
    private_key_file: Secret | None = None
    session_id: Secret | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Credentials:
        """Read every ``KAM_SYNC_SF_*`` variable that is set and not blank, in ``environ`` or
        else in the OS keyring (``kam_sync.config.secret_lookup``)."""
        environ = secret_lookup(environ)

        def get(key: str) -> Secret | None:
            value = environ.get(SECRET_ENV_VARS[key], "")
            return Secret(value) if value.strip() else None

        return cls(
            client_id=get("client_id"),
            client_secret=get("client_secret"),
            username=get("username"),
            password=get("password"),
            security_token=get("security_token"),
            private_key_file=get("private_key_file"),
            session_id=get("session_id"),
        )

    def require(self, flow: str, *names: str) -> list[Secret]:
        """The named credentials, or an AuthError listing every missing variable."""
        missing = [SECRET_ENV_VARS[n] for n in names if getattr(self, n) is None]
        if missing:
            raise AuthError(f"salesforce: auth '{flow}' needs {', '.join(missing)}, in {WHERE}")
        return [getattr(self, n) for n in names]


REQUIRED_BY_FLOW: dict[str, tuple[str, ...]] = {
    "jwt": ("client_id", "username", "private_key_file"),
    "client_credentials": ("client_id", "client_secret"),
    "password": ("client_id", "client_secret", "username", "password"),
    "session": ("session_id",),
}


def check_credentials(settings: SalesforceSettings, credentials: Credentials) -> None:
    """Fail before any request when the configured flow lacks a credential."""
    credentials.require(settings.auth, *REQUIRED_BY_FLOW[settings.auth])
    if settings.auth == "session" and settings.instance_url is None:
        raise AuthError("salesforce: auth 'session' needs crm.salesforce.instance_url")
