"""HubSpot connector (hubspot-api-client): ``connect(settings, environ) -> HubSpotConnector``."""

from kam_sync_connectors.hubspot.connector import HubSpotConnector, connect

__all__ = ["HubSpotConnector", "connect"]
