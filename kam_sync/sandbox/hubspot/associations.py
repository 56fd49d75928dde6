"""Associations between companies and deals, in the v3 and v4 API shapes.

HubSpot-defined association type ids (associations v4 guide): deal -> company 341 and
5 ("Primary"), company -> deal 342 and 6 ("Primary"), parent company -> child company 13,
child company -> parent company 14. Every seeded deal's company is its primary company.
User-defined labels (``HubSpotStore.label_association``) carry ``category: USER_DEFINED`` and
ids of their own that may equal HubSpot-defined ones (associations v4 guide, "Association
type id values": a label's ``typeId`` is only unique together with its ``category``).

Guessed, not documented: an id without associations shows up in the 207 `errors` array
with subCategory `crm.associations.NO_ASSOCIATIONS_FOUND`; the labels HubSpot returns for
the parent/child company types.
"""

from __future__ import annotations

from typing import Any

from kam_sync.sandbox.hubspot.errors import record_error
from kam_sync.sandbox.hubspot.store import HubSpotStore

SINGULAR = {"companies": "COMPANY", "deals": "DEAL"}


def _spec(type_id: int, label: str | None) -> dict[str, Any]:
    return {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label}


DEAL_TO_COMPANY = [_spec(5, "Primary"), _spec(341, None)]
COMPANY_TO_DEAL = [_spec(6, "Primary"), _spec(342, None)]
CHILD_TO_PARENT = [_spec(14, "Parent Company")]
PARENT_TO_CHILD = [_spec(13, "Child Company")]


class AssociationReader:
    """Reads the store's association maps; callers hold the store lock."""

    def __init__(self, store: HubSpotStore) -> None:
        self.store = store

    def _pairs(
        self, from_type: str, to_type: str, record_id: int
    ) -> list[tuple[int, list[dict[str, Any]], str]]:
        """(target id, v4 association types, v3 type name) for one record."""
        return [
            *self._defined_pairs(from_type, to_type, record_id),
            *(
                (target, [{"category": "USER_DEFINED", "typeId": type_id, "label": label}], label)
                for target, type_id, label in self.store.user_labels.get(
                    (from_type, to_type, record_id), []
                )
                if _live(self.store, to_type, target)
            ),
        ]

    def _defined_pairs(
        self, from_type: str, to_type: str, record_id: int
    ) -> list[tuple[int, list[dict[str, Any]], str]]:
        store = self.store
        if from_type == "deals" and to_type == "companies":
            company = store.deal_company.get(record_id)
            if company is None or not _live(store, "companies", company):
                return []
            return [(company, DEAL_TO_COMPANY, "deal_to_company")]
        if from_type == "companies" and to_type == "deals":
            return [
                (deal, COMPANY_TO_DEAL, "company_to_deal")
                for deal in store.company_deals.get(record_id, [])
                if _live(store, "deals", deal)
            ]
        if from_type == "companies" and to_type == "companies":
            pairs: list[tuple[int, list[dict[str, Any]], str]] = []
            parent = store.company_parent.get(record_id)
            if parent is not None and _live(store, "companies", parent):
                pairs.append((parent, CHILD_TO_PARENT, "child_to_parent_company"))
            for child in store.company_children.get(record_id, []):
                if _live(store, "companies", child):
                    pairs.append((child, PARENT_TO_CHILD, "parent_to_child_company"))
            return pairs
        return []

    def batch_read(
        self, from_type: str, to_type: str, ids: list[str]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """v4 `batch/read`: results per id with associations, errors for the others."""
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for raw_id in ids:
            record_id = int(raw_id) if raw_id.isdigit() else None
            live = record_id is not None and _live(self.store, from_type, record_id)
            pairs = self._pairs(from_type, to_type, record_id) if live and record_id else []
            if not pairs:
                errors.append(
                    record_error(
                        f"No {SINGULAR[to_type]} is associated with "
                        f"{SINGULAR[from_type]} {raw_id}.",
                        "VALIDATION_ERROR",
                        sub_category="crm.associations.NO_ASSOCIATIONS_FOUND",
                        context={"fromObjectId": [raw_id], "toObjectType": [SINGULAR[to_type]]},
                    )
                )
                continue
            results.append(
                {
                    "from": {"id": raw_id},
                    "to": [
                        {"toObjectId": target, "associationTypes": types}
                        for target, types, _ in pairs
                    ],
                }
            )
        return results, errors

    def targets(self, from_type: str, to_type: str, record_id: int) -> list[dict[str, Any]]:
        """v4 per-record listing: `{"toObjectId", "associationTypes"}` entries."""
        return [
            {"toObjectId": target, "associationTypes": types}
            for target, types, _ in self._pairs(from_type, to_type, record_id)
        ]

    def v3_ids(self, from_type: str, to_type: str, record_id: int) -> list[dict[str, str]]:
        """The v3 `associations` block of a record: `{"id", "type"}` entries."""
        return [
            {"id": str(target), "type": name}
            for target, _, name in self._pairs(from_type, to_type, record_id)
        ]


def _live(store: HubSpotStore, object_type: str, record_id: int) -> bool:
    record = store.table(object_type).records.get(record_id)
    return record is not None and record.archived_at is None
