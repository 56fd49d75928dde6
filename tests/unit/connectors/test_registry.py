"""The connector registry: one entry per CRM drives config, the CLI, `validate` and `plan`.

A third CRM, defined here, is registered with one line and is then a CRM like the built-in ones:
a project naming it loads, `validate` checks its mapping against its describe with its own type
names, and `init --crm` offers it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from pydantic import BaseModel, ConfigDict, Field

from kam_sync import canonical
from kam_sync.cli.main import build_parser, main
from kam_sync.cli.review_cmds import estimate_write_calls as _estimate_write_calls
from kam_sync.config.loader import load_project
from kam_sync.config.secret_lookup import KEYRING_SERVICE
from kam_sync.errors import ConfigError
from kam_sync_connectors import registry
from kam_sync_connectors.base import (
    Connector,
    CustomFieldSpec,
    DoctorCheck,
    FieldDescription,
    ObjectDescription,
    Page,
    ProvisionReport,
    PullRequest,
    QuotaStatus,
    RecordUpdate,
    ShouldStop,
    WriteResult,
)
from tests.conftest import init_project

ACME_TOKEN = "KAM_SYNC_ACME_TOKEN"
ACME_TYPES = {kind.value: frozenset({f"acme_{kind.value}"}) for kind in canonical.FieldKind}
ACME_TARGETS = {
    kind: frozenset({f"acme_{kind}"})
    for kind in (
        "picklist",
        "multipicklist",
        "number",
        "percent",
        "text",
        "longtext",
        "date",
        "datetime",
        "checkbox",
    )
}


class AcmeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = "https://api.acme.example"
    write_batch_size: int = Field(default=25, ge=1)


class AcmeConnector:
    """Describes exactly the fields it is given; pulls nothing; writes nothing."""

    name = "acme"

    def __init__(self, described: dict[str, ObjectDescription]) -> None:
        self.described = described
        self.closed = False

    def describe(self, object_name: str) -> ObjectDescription:
        return self.described[object_name]

    def pull(self, request: PullRequest) -> Iterator[Page]:
        return iter(())

    def set_write_back_targets(self, object_name: str, fields: Iterable[str]) -> None:
        pass

    def push(
        self,
        object_name: str,
        updates: Sequence[RecordUpdate],
        *,
        should_stop: ShouldStop | None = None,
    ) -> list[WriteResult]:
        return []

    def provision(self, fields: Sequence[CustomFieldSpec]) -> ProvisionReport:
        """Adds the fields it lacks (acme's type for each kind); the ones it has stay."""
        report = ProvisionReport()
        for spec in fields:
            described = self.described.setdefault(
                spec.object_name, ObjectDescription(spec.object_name, {})
            )
            if spec.name in described.fields:
                report.unchanged.append(f"{spec.object_name}.{spec.name}")
                continue
            described.fields[spec.name] = FieldDescription(
                name=spec.name,
                label=spec.label,
                type=f"acme_{spec.type}",
                updateable=True,
                custom=True,
                provisioned=True,
                picklist_values=spec.values,
            )
            report.created.append(f"{spec.object_name}.{spec.name}")
        return report

    def diagnose(self) -> list[DoctorCheck]:
        return [DoctorCheck("connection", True, f"{len(self.described)} objects described")]

    def mapped_field_problems(self, object_name: str, fields: Sequence[str]) -> list[str]:
        return [f"acme has no path {f}" for f in fields]

    def check_quota(self) -> QuotaStatus:
        return QuotaStatus(used=None, limit=None)

    def quota(self) -> QuotaStatus:
        return QuotaStatus(used=None, limit=None)

    def amounts_currency(self) -> str | None:
        return None

    def record_url(self, object_name: str, record_id: str) -> str | None:
        return None

    def close(self) -> None:
        self.closed = True


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


def register_acme(
    described: dict[str, ObjectDescription], made: list[AcmeConnector] | None = None
) -> None:
    """The one line that adds a CRM: its registry entry."""

    def connect(settings: AcmeSettings, environ: Mapping[str, str]) -> Connector:
        assert isinstance(settings, AcmeSettings)
        connector = AcmeConnector(described)
        if made is not None:
            made.append(connector)
        return connector

    registry.register(
        registry.CrmEntry(
            name="acme",
            settings_model=AcmeSettings,
            secret_variables=(ACME_TOKEN,),
            connect=connect,
            types=registry.CrmTypes(ACME_TYPES, ACME_TARGETS),
            estimate_write_calls=lambda settings, n: {"write": -(-n // settings.write_batch_size)},
        )
    )


@pytest.fixture
def acme() -> Iterator[None]:
    """The third CRM, registered for the test only."""
    register_acme({})
    try:
        yield
    finally:
        registry.unregister("acme")


def acme_project(folder: Path, section: str = "  acme:\n    write_batch_size: 10\n") -> Path:
    """A project for acme: the default project with the CRM section and mapping file swapped
    (acme's mapping file is a copy of Salesforce's, as a new CRM's would be written)."""
    project = init_project(folder, "salesforce")
    mapping = (project / "mappings" / "salesforce.yaml").read_text(encoding="utf-8")
    (project / "mappings" / "salesforce.yaml").unlink()
    assert "\ncrm: salesforce\n" in mapping
    (project / "mappings" / "acme.yaml").write_text(
        mapping.replace("\ncrm: salesforce\n", "\ncrm: acme\n"), encoding="utf-8"
    )
    text = (project / "kam-sync.yaml").read_text(encoding="utf-8")
    head, rest = text.split("crm:\n", 1)
    rest = rest[rest.index("\n# The mapping file") :]
    rest = rest.replace("mapping: mappings/salesforce.yaml", "mapping: mappings/acme.yaml")
    (project / "kam-sync.yaml").write_text(
        head + "crm:\n  type: acme\n" + section + rest, encoding="utf-8"
    )
    return project


def describe_matching(folder: Path) -> dict[str, ObjectDescription]:
    """What acme's describe says for a project whose mapping fits it: every mapped field with
    acme's own type for its kind, every write-back target custom, provisioned and updateable."""
    project = load_project(folder)
    out: dict[str, ObjectDescription] = {}
    for obj_name, obj in (
        ("account", project.mapping.objects.account),
        ("opportunity", project.mapping.objects.opportunity),
    ):
        kinds = canonical.OBJECT_FIELDS[obj_name]
        fields = {
            spec.crm: FieldDescription(spec.crm, spec.crm, f"acme_{kinds[name].value}", False)
            for name, spec in obj.field_mappings().items()
        }
        if obj_name == "account":
            for target in project.mapping.write_back.values():
                fields[target.crm] = FieldDescription(
                    target.crm,
                    target.crm,
                    f"acme_{target.type}",
                    True,
                    custom=True,
                    provisioned=True,
                    picklist_values=tuple((target.values or {}).values()),
                )
        out[obj.crm_object] = ObjectDescription(obj.crm_object, fields)
    return out


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_the_built_in_crms_are_registered_with_their_settings_and_secrets() -> None:
    assert registry.crm_names()[:2] == ("salesforce", "hubspot")
    assert "KAM_SYNC_HUBSPOT_TOKEN" in registry.entry("hubspot").secret_variables
    assert registry.entry("salesforce").settings_model.__name__ == "SalesforceSettings"
    with pytest.raises(ValueError, match="unknown CRM 'dynamics'"):
        registry.entry("dynamics")


def test_a_registered_crm_is_offered_by_init(acme: None) -> None:
    args = build_parser().parse_args(["init", "somewhere", "--crm", "acme"])
    assert args.crm == "acme"


def test_a_project_naming_a_registered_crm_loads_with_its_settings(
    tmp_path: Path, acme: None
) -> None:
    project = load_project(acme_project(tmp_path / "p"))
    assert project.config.crm.type == "acme"
    settings = project.config.connector_settings()
    assert isinstance(settings, AcmeSettings)
    assert settings.write_batch_size == 10


def test_a_crm_section_is_checked_by_its_crms_settings_model(tmp_path: Path, acme: None) -> None:
    folder = acme_project(tmp_path / "p", section="  acme:\n    write_batch_sise: 10\n")
    with pytest.raises(ConfigError) as raised:
        load_project(folder)
    assert "unknown key 'write_batch_sise'" in str(raised.value)
    lines = (folder / "kam-sync.yaml").read_text(encoding="utf-8").splitlines()
    assert raised.value.issues[0].line == lines.index("    write_batch_sise: 10") + 1


def test_an_unregistered_crm_is_refused_naming_the_registered_ones(tmp_path: Path) -> None:
    folder = acme_project(tmp_path / "p")  # acme is not registered in this test
    with pytest.raises(ConfigError) as raised:
        load_project(folder)
    message = str(raised.value)
    assert "type: must be 'salesforce' or 'hubspot', got 'acme'" in message


def test_a_mapping_file_for_another_crm_is_refused(tmp_path: Path, acme: None) -> None:
    folder = acme_project(tmp_path / "p")
    path = folder / "mappings" / "acme.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("\ncrm: acme\n", "\ncrm: salesforce\n"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="this mapping is for salesforce"):
        load_project(folder)


def test_a_mapping_file_naming_an_unregistered_crm_lists_the_registered_ones(
    tmp_path: Path,
) -> None:
    folder = init_project(tmp_path / "p", "hubspot")
    path = folder / "mappings" / "hubspot.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("\ncrm: hubspot\n", "\ncrm: hubspt\n"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_project(folder)
    assert "crm: must be 'salesforce' or 'hubspot', got 'hubspt'" in str(raised.value)


def test_validate_checks_a_third_crms_mapping_with_its_own_type_names(
    tmp_path: Path, acme: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = acme_project(tmp_path / "p")
    made: list[AcmeConnector] = []
    register_acme(describe_matching(folder), made)
    monkeypatch.setenv(ACME_TOKEN, "t")

    code, out, err = run_cli("validate", "--project", str(folder))

    assert code == 0, err
    assert "the mapping matches the acme org/account" in out
    assert [c.closed for c in made] == [True]


def test_validate_reports_a_field_whose_type_the_crms_table_does_not_allow(
    tmp_path: Path, acme: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = acme_project(tmp_path / "p")
    described = describe_matching(folder)
    account = load_project(folder).mapping.objects.account
    annual = account.field_mappings()["annual_revenue"].crm
    fields = dict(described[account.crm_object].fields)
    fields[annual] = FieldDescription(annual, annual, "acme_text", False)  # not a money type
    described[account.crm_object] = ObjectDescription(account.crm_object, fields)
    register_acme(described)
    monkeypatch.setenv(ACME_TOKEN, "t")

    code, _out, err = run_cli("validate", "--project", str(folder))

    assert code == 2
    assert f"{annual} is of type acme_text, which cannot hold annual_revenue" in err


def test_validate_finds_a_crms_credentials_in_the_keyring(
    tmp_path: Path, acme: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = acme_project(tmp_path / "p")
    monkeypatch.delenv(ACME_TOKEN, raising=False)
    code, out, _ = run_cli("validate", "--project", str(folder))
    assert code == 0
    assert (
        f"CRM check skipped: no acme credentials in the environment or the OS keyring ({ACME_TOKEN})"
        in out
    )

    register_acme(describe_matching(folder))
    previous = keyring.get_keyring()
    store = MemoryKeyring()
    store.set_password(KEYRING_SERVICE, ACME_TOKEN, "from-the-keyring")
    keyring.set_keyring(store)
    try:
        code, out, err = run_cli("validate", "--project", str(folder))
    finally:
        keyring.set_keyring(previous)
    assert code == 0, err
    assert "the mapping matches the acme org/account" in out


def test_plan_estimates_write_calls_by_the_crms_registry_entry(tmp_path: Path, acme: None) -> None:
    project = load_project(acme_project(tmp_path / "p"))
    assert _estimate_write_calls(project, 21) == {"write": 3}  # 21 updates, batches of 10
    assert _estimate_write_calls(project, 0) == {"write": 0}


def test_salesforce_estimates_one_bulk_job_above_its_threshold(tmp_path: Path) -> None:
    project = load_project(init_project(tmp_path / "p", "salesforce"))
    settings = project.config.connector_settings()
    estimate = registry.entry("salesforce").estimate_write_calls
    assert estimate(settings, 400) == {"write": 2}  # two sObject Collections calls of 200
    assert estimate(settings, 2_001) == {"bulk": 5}  # one Bulk API 2.0 ingest job


def test_hubspot_reports_no_relation_path_problems() -> None:
    from kam_sync_connectors.hubspot.connector import HubSpotConnector
    from kam_sync_connectors.hubspot.settings import HubSpotSettings

    connector = HubSpotConnector(HubSpotSettings(), {"KAM_SYNC_HUBSPOT_TOKEN": "x"})
    try:
        assert connector.mapped_field_problems("companies", ["@associations.parent"]) == []
    finally:
        connector.close()


def test_provision_creates_a_third_crms_missing_write_back_fields_once(
    tmp_path: Path, acme: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = acme_project(tmp_path / "p")
    project = load_project(folder)
    described = describe_matching(folder)
    account = described[project.mapping.objects.account.crm_object]
    targets = sorted(t.crm for t in project.mapping.write_back.values())
    for name in targets:
        del account.fields[name]
    register_acme(described)
    monkeypatch.setenv(ACME_TOKEN, "t")

    first = run_cli("provision", "--project", str(folder))
    second = run_cli("provision", "--project", str(folder))

    assert first[0] == 0, first[2]
    created = first[1].split("created: ", 1)[1].splitlines()[0].split(", ")
    assert sorted(c.split(".", 1)[1] for c in created) == targets
    assert second[0] == 0, second[2]
    assert "created:" not in second[1]
    assert "the mapping matches the CRM (acme)" in second[1]
