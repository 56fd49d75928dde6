"""HubSpot connector (hubspot-api-client)."""
