"""Chat alerts link to records: the Salesforce connector knows its instance once logged in."""

from __future__ import annotations

import responses
from sf_fakes import API, INSTANCE, token_ok

from kam_sync_connectors.salesforce.connector import connect
from kam_sync_connectors.salesforce.settings import SalesforceSettings


def test_a_record_url_is_the_lightning_page_on_the_orgs_instance_once_logged_in(
    mocked: responses.RequestsMock, environ: dict[str, str]
) -> None:
    connector = connect(SalesforceSettings(), environ)
    assert connector.record_url("Account", "001A") is None, "no login just for a link"
    token_ok(mocked)
    mocked.get(f"{API}/limits/", json={})
    connector.check_quota()

    assert connector.record_url("Account", "001A") == f"{INSTANCE}/lightning/r/Account/001A/view"
    connector.close()
