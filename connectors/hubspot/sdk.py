"""The hubspot-api-client objects the connector uses, built once against the configured host.

``hubspot.HubSpot(...)`` builds a new ApiClient (and a new urllib3 pool) every time an API
attribute is read, so the connector builds each generated package's ApiClient itself and keeps
it: connections are reused. The SDK's own urllib3 retries are switched off (``Retry(0)``):
they skip POST and PATCH anyway, and kam-sync retries in one place (``calls.py``).
"""

from __future__ import annotations

from typing import Any

from hubspot import oauth
from hubspot.crm import objects, properties
from hubspot.crm.associations import v4 as associations_v4
from urllib3.util.retry import Retry


def _configured(package: Any, host: str, ca_cert: str | None) -> Any:
    # In hubspot-api-client 12, ``Configuration(host=...)`` leaves ``server_index`` None, so
    # every request goes to ``host`` instead of the generated server list (whose only entry is
    # https://api.hubapi.com). There is no default time-out: calls.py passes one per call.
    configuration = package.Configuration(host=host)
    configuration.retries = Retry(total=0, redirect=0)
    if ca_cert:
        configuration.ssl_ca_cert = ca_cert
    return package.ApiClient(configuration=configuration)


class HubSpotSdk:
    """One ApiClient per generated package; the access token is set on all of them at once."""

    def __init__(self, base_url: str, *, ca_cert: str | None = None) -> None:
        host = base_url.rstrip("/")
        objects_client = _configured(objects, host, ca_cert)
        properties_client = _configured(properties, host, ca_cert)
        associations_client = _configured(associations_v4, host, ca_cert)
        oauth_client = _configured(oauth, host, ca_cert)
        self.objects_basic = objects.BasicApi(api_client=objects_client)
        self.objects_batch = objects.BatchApi(api_client=objects_client)
        self.objects_search = objects.SearchApi(api_client=objects_client)
        self.properties_core = properties.CoreApi(api_client=properties_client)
        self.properties_groups = properties.GroupsApi(api_client=properties_client)
        self.associations_batch = associations_v4.BatchApi(api_client=associations_client)
        self.oauth_tokens = oauth.TokensApi(api_client=oauth_client)
        self._objects_client = objects_client
        self._clients = [objects_client, properties_client, associations_client]
        self._all_clients = [*self._clients, oauth_client]

    @property
    def api_objects(self) -> list[object]:
        return [
            self.objects_basic,
            self.objects_batch,
            self.objects_search,
            self.properties_core,
            self.properties_groups,
            self.associations_batch,
            self.oauth_tokens,
        ]

    def account_details(self, **kwargs: Any) -> Any:
        """``GET /account-info/v3/details`` (developers.hubspot.com, "Retrieve account
        details"), sent through the objects package's ApiClient: hubspot-api-client 12 has no
        account-info package. Its errors are that package's ``ApiException``."""
        return self._objects_client.call_api(
            "/account-info/v3/details",
            "GET",
            header_params={"Accept": "application/json"},
            response_types_map={},
            auth_settings=["oauth2"],
            **kwargs,
        )

    def set_access_token(self, token: str) -> None:
        for client in self._clients:
            client.configuration.access_token = token

    def close(self) -> None:
        for client in self._all_clients:
            client.rest_client.pool_manager.clear()
