"""The factory: a connector that satisfies the protocol, built from settings and environment."""

from __future__ import annotations

from kam_sync_connectors.base import Connector
from kam_sync_connectors.hubspot import connect
from kam_sync_connectors.hubspot.settings import HubSpotSettings


def test_connect_returns_a_connector_of_the_protocol_without_calling_hubspot() -> None:
    connector = connect(
        HubSpotSettings(base_url="http://127.0.0.1:9"), {"KAM_SYNC_HUBSPOT_TOKEN": "pat-x"}
    )
    assert isinstance(connector, Connector)
    assert connector.name == "hubspot"
    assert connector.quota().calls_by_kind == {}
    assert "pat-x" not in repr(connector.tokens)
    connector.close()


def test_every_bound_defaults_to_hubspots_documented_limit() -> None:
    settings = HubSpotSettings()
    assert (settings.list_page_size, settings.search_page_size) == (100, 200)
    assert settings.write_batch_size == 100
    assert settings.search_result_cap == 10_000
    assert settings.search_requests_per_second == 5
    assert settings.associations_batch_size == 1_000
    assert settings.rate_limit_window_seconds == 10.0
