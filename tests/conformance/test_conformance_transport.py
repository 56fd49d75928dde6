"""Conformance: every registered connector refuses a TLS peer it was not told to trust."""

from __future__ import annotations

import pytest

from kam_sync.errors import KamSyncError
from tests.conformance.conftest import CrmAdapter


@pytest.fixture(autouse=True)
def no_ca_bundle_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_a_connector_without_the_sandbox_ca_is_refused_with_a_tls_message(
    crm: CrmAdapter,
) -> None:
    with crm.sandbox(accounts=5, seed=51, tls=True) as sandbox:
        assert sandbox.ca_cert_path is not None and sandbox.base_url.startswith("https://")
        sandbox.reset_stats()
        connector = crm.connector(sandbox, ca_bundle=None, retry_max_attempts=2)

        with pytest.raises(KamSyncError) as caught:
            connector.check_quota()
        served = sandbox.stats()["requests_total"]

    message = str(caught.value)
    assert "TLS" in message and "127.0.0.1" in message
    assert f"crm.{crm.crm}.ca_bundle" in message
    assert served == 0, "no request got past the handshake"


def test_the_same_connector_with_the_sandbox_ca_connects(crm: CrmAdapter) -> None:
    with crm.sandbox(accounts=5, seed=52, tls=True) as sandbox:
        status = crm.connector(sandbox).check_quota()

    assert status.limit is not None
