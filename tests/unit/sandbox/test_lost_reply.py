"""The `lost` fault: the CRM applies a write and the client never hears of it."""

from __future__ import annotations

import pytest
import requests

from kam_sync.sandbox.faults import FaultInjector, FaultSpec
from kam_sync.sandbox.runner import running_sandbox
from tests.e2e.crm import ACCOUNT_OBJECT, SF_API, CrmHands

# The account name, a standard text field in each CRM (no provisioning needed).
DESCRIPTION = {"salesforce": "Name", "hubspot": "name"}


def test_lost_is_parsed_per_kind_and_decided_by_its_share() -> None:
    spec = FaultSpec.parse("write:lost=1")
    assert spec.for_kind("write").lost == 1.0
    assert spec.for_kind("query").lost == 0.0

    injector = FaultInjector(FaultSpec.parse("lost=0.25"), seed=7)
    decisions = [injector.decide_request("write") for _ in range(4_000)]
    assert sum(d.lose_reply for d in decisions) / len(decisions) == pytest.approx(0.25, abs=0.03)
    assert not any(d.drop or d.status for d in decisions)


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_write_whose_reply_is_lost_is_applied_in_the_crm(crm: str) -> None:
    with running_sandbox(crm, accounts=3, seed=5) as handle:
        hands = CrmHands.connect(crm, handle)
        account_id = _first_account(hands)
        field, value = DESCRIPTION[crm], "Renamed While The Reply Was Lost"

        handle.set_faults("write:lost=1")
        with pytest.raises(requests.ConnectionError):
            hands.update(ACCOUNT_OBJECT[crm], account_id, {field: value})
        handle.set_faults(None)

        url = hands._url(ACCOUNT_OBJECT[crm], account_id)
        record = hands.session.get(url, params={"properties": field}, timeout=30).json()
        held = record[field] if crm == "salesforce" else record["properties"][field]
        assert held == value
        assert handle.stats()["faults"].get("lost") == 1


def _first_account(hands: CrmHands) -> str:
    base = hands.handle.base_url
    if hands.crm == "salesforce":
        url = f"{base}{SF_API}/query?q=SELECT Id FROM Account ORDER BY Id LIMIT 1"
        return str(hands.session.get(url, timeout=30).json()["records"][0]["Id"])
    page = hands.session.get(f"{base}/crm/v3/objects/companies?limit=1", timeout=30).json()
    return str(page["results"][0]["id"])
