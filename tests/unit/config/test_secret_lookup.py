"""Secrets come from their variable when it is set, else from the OS keyring (service kam-sync)."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import keyring.backend
import keyring.errors
import pytest

from kam_sync.config.secret_lookup import (
    KEYRING_SERVICE,
    SecretLookup,
    values_read_from_keyring,
)
from kam_sync.errors import AuthError
from kam_sync_connectors.hubspot.connector import HubSpotConnector
from kam_sync_connectors.hubspot.settings import HubSpotSettings
from kam_sync_connectors.salesforce.credentials import Credentials


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An OS keyring kept in a dict, counting lookups."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.lookups: list[tuple[str, str]] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.lookups.append((service, username))
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


class NoKeyring(keyring.backend.KeyringBackend):
    """A machine without a keyring, as keyring's fail backend behaves."""

    priority = 0  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.NoKeyringError("no backend")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.NoKeyringError("no backend")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.NoKeyringError("no backend")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(NoKeyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def test_a_secret_missing_from_the_environment_is_read_from_the_keyring(
    memory_keyring: MemoryKeyring,
) -> None:
    keyring.set_password(KEYRING_SERVICE, "KAM_SYNC_HUBSPOT_TOKEN", "pat-from-keyring")

    assert SecretLookup({}).get("KAM_SYNC_HUBSPOT_TOKEN") == "pat-from-keyring"
    assert "pat-from-keyring" in values_read_from_keyring()


def test_the_environment_wins_over_the_keyring(memory_keyring: MemoryKeyring) -> None:
    keyring.set_password(KEYRING_SERVICE, "KAM_SYNC_SF_PASSWORD", "from-keyring")

    secrets = SecretLookup({"KAM_SYNC_SF_PASSWORD": "from-env"})

    assert secrets["KAM_SYNC_SF_PASSWORD"] == "from-env"
    assert memory_keyring.lookups == []


def test_a_blank_variable_falls_back_to_the_keyring(memory_keyring: MemoryKeyring) -> None:
    keyring.set_password(KEYRING_SERVICE, "KAM_SYNC_SF_PASSWORD", "from-keyring")

    assert SecretLookup({"KAM_SYNC_SF_PASSWORD": "  "})["KAM_SYNC_SF_PASSWORD"] == "from-keyring"


def test_only_kam_sync_variables_are_looked_up_and_each_only_once(
    memory_keyring: MemoryKeyring,
) -> None:
    secrets = SecretLookup({})

    assert secrets.get("REQUESTS_CA_BUNDLE") is None
    assert secrets.get("KAM_SYNC_SF_USERNAME") is None
    assert secrets.get("KAM_SYNC_SF_USERNAME") is None
    assert memory_keyring.lookups == [(KEYRING_SERVICE, "KAM_SYNC_SF_USERNAME")]


def test_no_keyring_on_the_machine_means_not_set(no_keyring: None) -> None:
    assert SecretLookup({}).get("KAM_SYNC_HUBSPOT_TOKEN") is None


def test_salesforce_reads_its_credentials_from_the_keyring(memory_keyring: MemoryKeyring) -> None:
    keyring.set_password(KEYRING_SERVICE, "KAM_SYNC_SF_CLIENT_ID", "client-id")
    keyring.set_password(KEYRING_SERVICE, "KAM_SYNC_SF_CLIENT_SECRET", "s3cret-value")

    credentials = Credentials.from_environ({})
    client_id, client_secret = credentials.require(
        "client_credentials", "client_id", "client_secret"
    )

    assert (client_id.reveal(), client_secret.reveal()) == ("client-id", "s3cret-value")
    assert "s3cret-value" not in repr(credentials)


def test_hubspot_reads_its_token_from_the_keyring(memory_keyring: MemoryKeyring) -> None:
    keyring.set_password(KEYRING_SERVICE, "KAM_SYNC_HUBSPOT_TOKEN", "pat-na1-keyring")

    connector = HubSpotConnector(HubSpotSettings(), {})

    assert connector.tokens.access_token() == "pat-na1-keyring"
    assert "pat-na1-keyring" not in repr(connector.tokens)


def test_a_secret_in_neither_place_is_named_with_both_places_to_put_it(no_keyring: None) -> None:
    with pytest.raises(AuthError) as caught:
        Credentials.from_environ({"KAM_SYNC_SF_CLIENT_ID": "client-id"}).require(
            "client_credentials", "client_id", "client_secret"
        )

    message = str(caught.value)
    assert "KAM_SYNC_SF_CLIENT_SECRET" in message
    assert f"OS keyring (service '{KEYRING_SERVICE}'" in message
    assert "client-id" not in message
    assert "KAM_SYNC_SF_CLIENT_ID," not in message


def test_hubspot_without_a_token_anywhere_says_where_to_put_it(no_keyring: None) -> None:
    with pytest.raises(AuthError, match=r"KAM_SYNC_HUBSPOT_TOKEN.*OS keyring"):
        HubSpotConnector(HubSpotSettings(), {})
