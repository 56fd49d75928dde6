"""Which connector serves which CRM: one table, one entry per CRM.

An entry names everything the rest of kam-sync needs to know about a CRM: its settings model (the
``crm.<name>`` section of ``kam-sync.yaml``), the secret variables whose presence means the CRM
can be asked (in the environment or the OS keyring), the connect function, the type tables the
online mapping check uses, and the write-call estimate `plan` prints. Adding a CRM is its folder
under ``connectors/``, its mapping file, and one ``register(...)`` line below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from kam_sync.config.secret_lookup import secret_lookup
from kam_sync_connectors.base import Connector
from kam_sync_connectors.hubspot import capabilities as hubspot_capabilities
from kam_sync_connectors.hubspot.settings import SECRET_ENV_VARS as HUBSPOT_SECRETS
from kam_sync_connectors.hubspot.settings import HubSpotSettings
from kam_sync_connectors.salesforce import capabilities as salesforce_capabilities
from kam_sync_connectors.salesforce.settings import SECRET_ENV_VARS as SALESFORCE_SECRETS
from kam_sync_connectors.salesforce.settings import SalesforceSettings


@dataclass(frozen=True, slots=True)
class CrmTypes:
    """The CRM's field types that can feed each canonical kind (keyed by the kind's name:
    ``id``, ``text``, ``money``...) and that a write-back target of each mapping type
    (``picklist``, ``number``...) may have. Lower-case, as ``describe`` reports them."""

    compatible: Mapping[str, frozenset[str]]
    targets: Mapping[str, frozenset[str]]


@dataclass(frozen=True, slots=True, eq=False)
class CrmEntry:
    """One CRM: everything kam-sync outside its connector folder may know about it.

    ``connect`` and ``estimate_write_calls`` take the entry's own settings model (typed ``Any``
    here because the table holds every CRM's; each function's own signature is checked)."""

    name: str
    settings_model: type[BaseModel]
    secret_variables: tuple[str, ...]
    connect: Callable[[Any, Mapping[str, str]], Connector]
    types: CrmTypes
    estimate_write_calls: Callable[[Any, int], dict[str, int]]
    # YAML keys that look like this CRM's secrets -> the variable that must hold them instead.
    secret_settings: Mapping[str, str] = field(default_factory=dict)
    # Updates the engine hands to ``push`` at once, and stores the results of together, when
    # ``sync.write_chunk_size`` is not set: as many as the CRM's largest write form takes in one
    # go, so a larger chunk would hold more in memory and gain no call.
    write_chunk_size: int = 50_000
    # The pull mostly waits for the CRM's rate limit (HubSpot: its requests per ten seconds,
    # and search's five a second), so the engine reads the large store tables the later steps
    # need (the opportunities, the written values) while it waits. A pull bound by its own work
    # (Salesforce's 2,000-record pages) would share the processor with those reads, and hold
    # them in memory beside its pages, for nothing.
    read_store_beside_pull: bool = False

    def credentials_available(self, environ: Mapping[str, str]) -> bool:
        """Whether any of the CRM's secret variables is set, in ``environ`` or the keyring."""
        found = secret_lookup(environ)
        return any(found.get(name) for name in self.secret_variables)


_REGISTRY: dict[str, CrmEntry] = {}


def register(entry: CrmEntry) -> CrmEntry:
    """Add (or replace) the entry for ``entry.name``."""
    _REGISTRY[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a CRM (tests that register one of their own)."""
    _REGISTRY.pop(name, None)


def crm_names() -> tuple[str, ...]:
    """The registered CRMs, in registration order."""
    return tuple(_REGISTRY)


def entry(crm: str) -> CrmEntry:
    """The entry for ``crm``; ValueError naming the known CRMs when there is none."""
    try:
        return _REGISTRY[crm]
    except KeyError:
        raise ValueError(f"unknown CRM {crm!r} (known: {', '.join(_REGISTRY)})") from None


def connect(crm: str, settings: Any, environ: Mapping[str, str]) -> Connector:
    """A connector for ``crm`` configured by its settings section, secrets from ``environ``."""
    return entry(crm).connect(settings, environ)


def _connect_salesforce(settings: SalesforceSettings, environ: Mapping[str, str]) -> Connector:
    from kam_sync_connectors.salesforce.connector import connect as connect_salesforce

    return connect_salesforce(settings, environ)


def _connect_hubspot(settings: HubSpotSettings, environ: Mapping[str, str]) -> Connector:
    from kam_sync_connectors.hubspot.connector import connect as connect_hubspot

    return connect_hubspot(settings, environ)


register(
    CrmEntry(
        name="salesforce",
        settings_model=SalesforceSettings,
        secret_variables=(
            "KAM_SYNC_SF_CLIENT_ID",
            "KAM_SYNC_SF_SESSION_ID",
            "KAM_SYNC_SF_USERNAME",
        ),
        connect=_connect_salesforce,
        types=CrmTypes(
            salesforce_capabilities.COMPATIBLE_TYPES, salesforce_capabilities.TARGET_TYPES
        ),
        estimate_write_calls=salesforce_capabilities.estimate_write_calls,
        secret_settings=SALESFORCE_SECRETS,
    )
)
register(
    CrmEntry(
        name="hubspot",
        settings_model=HubSpotSettings,
        secret_variables=("KAM_SYNC_HUBSPOT_TOKEN", "KAM_SYNC_HUBSPOT_CLIENT_ID"),
        connect=_connect_hubspot,
        types=CrmTypes(hubspot_capabilities.COMPATIBLE_TYPES, hubspot_capabilities.TARGET_TYPES),
        estimate_write_calls=hubspot_capabilities.estimate_write_calls,
        secret_settings=HUBSPOT_SECRETS,
        # 50 batch updates of 100: enough to keep every batch in flight busy between chunks;
        # 50,000 (one Bulk API job on Salesforce) held about 45 MiB more at 50,000 accounts.
        write_chunk_size=5_000,
        read_store_beside_pull=True,
    )
)

CRMS = crm_names()  # the built-in CRMs
