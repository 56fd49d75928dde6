"""The state store's password comes from its variable, else from the OS keyring."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from kam_sync.config.project import STORE_PASSWORD_ENV
from kam_sync.store.store import resolve_url

URL = "postgresql://kam@db.example.internal:5432/kam"


class OneEntryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self, entries: dict[tuple[str, str], str]) -> None:
        super().__init__()
        self.entries = entries

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


@pytest.fixture
def keyring_with_password() -> object:
    previous = keyring.get_keyring()
    keyring.set_keyring(OneEntryKeyring({("kam-sync", STORE_PASSWORD_ENV): "from-keyring"}))
    yield
    keyring.set_keyring(previous)


def test_the_store_password_comes_from_the_keyring_when_the_variable_is_unset(
    keyring_with_password: object, tmp_path: Path
) -> None:
    assert resolve_url(URL, tmp_path, {}).password == "from-keyring"


def test_the_variable_wins_over_the_keyring(keyring_with_password: object, tmp_path: Path) -> None:
    env = {STORE_PASSWORD_ENV: "from-env"}
    assert resolve_url(URL, tmp_path, env).password == "from-env"


def test_a_password_read_from_the_keyring_is_masked_in_log_lines(
    keyring_with_password: object, tmp_path: Path
) -> None:
    import logging

    from kam_sync.cli.logs import MASK, SecretMaskingFilter

    resolve_url(URL, tmp_path, {})  # reads the password from the keyring
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "dsn has %s", ("from-keyring",), None
    )
    SecretMaskingFilter({}).filter(record)
    assert record.getMessage() == f"dsn has {MASK}"
