"""Shared fixtures for the Salesforce connector's `responses`-based tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sf_fakes import SleepRecorder

from kam_sync_connectors.salesforce.client import SalesforceClient
from kam_sync_connectors.salesforce.credentials import Credentials
from kam_sync_connectors.salesforce.settings import SalesforceSettings


@pytest.fixture(scope="session")
def rsa_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("keys") / "server.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public


@pytest.fixture
def environ(rsa_key: tuple[Path, bytes]) -> dict[str, str]:
    return {
        "KAM_SYNC_SF_CLIENT_ID": "3MVG9-consumer-key",
        "KAM_SYNC_SF_CLIENT_SECRET": "s3cret-client-secret",
        "KAM_SYNC_SF_USERNAME": "integration@acme.example",
        "KAM_SYNC_SF_PASSWORD": "hunter2-password",
        "KAM_SYNC_SF_SECURITY_TOKEN": "TOKEN123",
        "KAM_SYNC_SF_PRIVATE_KEY_FILE": str(rsa_key[0]),
    }


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(environ: dict[str, str], sleeps: SleepRecorder) -> Callable[..., SalesforceClient]:
    def make(env: dict[str, str] | None = None, **settings: Any) -> SalesforceClient:
        return SalesforceClient(
            SalesforceSettings(**settings),
            Credentials.from_environ(environ if env is None else env),
            sleep=sleeps,
        )

    return make
