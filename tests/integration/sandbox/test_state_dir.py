"""`sandbox serve --state-dir DIR`: the CA, the keys and the data outlive a restart."""

from __future__ import annotations

from pathlib import Path

from kam_sync.sandbox.runner import running_sandbox


def test_a_restarted_salesforce_sandbox_keeps_its_ca_keys_and_data(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with running_sandbox("salesforce", accounts=5, state_dir=state) as first:
        ca = first.ca_cert_path.read_bytes() if first.ca_cert_path else b""
        key = Path(first.credentials["private_key_path"]).read_bytes()
        account = next(iter(first.app.store.records("Account")))["Id"]
        first.app.store.human_edit("Account", account, Name="Renamed before the restart")
        credentials = dict(first.credentials)
    assert state.is_dir(), "the state folder is kept"

    with running_sandbox("salesforce", accounts=5, state_dir=state) as second:
        assert second.ca_cert_path is not None and second.ca_cert_path.read_bytes() == ca
        assert Path(second.credentials["private_key_path"]).read_bytes() == key
        assert second.credentials == credentials
        assert second.app.store.get("Account", account)["Name"] == "Renamed before the restart"
        # The kept CA still verifies the (kept) server certificate.
        session = second.requests_session()
        response = session.post(
            second.base_url + "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": credentials["client_id"],
                "client_secret": credentials["client_secret"],
            },
            timeout=30,
        )
        assert response.status_code == 200


def test_a_restarted_hubspot_sandbox_keeps_its_token_and_data(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with running_sandbox("hubspot", accounts=5, state_dir=state) as first:
        company = str(first.app.store.companies.ids[0])
        first.app.store.set_values("companies", company, {"name": "Renamed"})
        token = first.credentials["access_token"]

    with running_sandbox("hubspot", accounts=5, state_dir=state) as second:
        assert second.credentials["access_token"] == token
        record = second.app.store.companies.records[int(company)]
        assert second.app.store.companies.value(record, "name") == "Renamed"


def test_fields_provisioned_before_a_restart_keep_their_value_labels(tmp_path: Path) -> None:
    from kam_sync_connectors.base import CustomFieldSpec
    from kam_sync_connectors.salesforce import SalesforceSettings, connect

    spec = CustomFieldSpec(
        "Account",
        "KAM_Checklist_Answers__c",
        "KAM Checklist Answers",
        "multipicklist",
        values=("needs_01", "needs_02"),
        labels=("Top three priorities?", "Which priorities do we serve?"),
        exact_values=True,
        access="read",
    )
    state = tmp_path / "state"
    for _ in range(2):
        with running_sandbox("salesforce", accounts=3, state_dir=state, kam_inputs=False) as h:
            connector = connect(
                SalesforceSettings(
                    login_url=h.base_url, auth="client_credentials", ca_bundle=h.ca_cert_path
                ),
                {
                    "KAM_SYNC_SF_CLIENT_ID": h.credentials["client_id"],
                    "KAM_SYNC_SF_CLIENT_SECRET": h.credentials["client_secret"],
                },
            )
            report = connector.provision([spec])
            assert not report.problems, report.problems
            field = h.app.store.schema.get("Account").get(spec.name)
            assert field.picklist_labels == spec.labels
            hash(field)
    assert report.unchanged == ["Account.KAM_Checklist_Answers__c"]
