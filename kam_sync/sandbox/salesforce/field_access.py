"""Field-level security: which custom fields the API user may read and edit.

In a real org a custom field is visible to a user only through a profile or a permission set
that grants it; without read access the field is missing from the user's describe, a query
naming it fails `INVALID_FIELD` ("No such column"), and an update naming it fails the same way;
with read but not edit access, describe shows it not updateable and an update fails
`INVALID_FIELD_FOR_INSERT_UPDATE` (Salesforce Help, "Field-Level Security"; Object Reference,
"FieldPermissions"; SOAP API Developer Guide, "StatusCode"). A field created through the
Tooling or Metadata API is granted to no one (Tooling API, "CustomField": field-level security
is set separately, e.g. with FieldPermissions).

The sandbox's org: the custom fields it is seeded with are granted to the API user by its
profile (`SalesforceStore.profile_fields`); every field created later is granted only by
`FieldPermissions` on a permission set assigned to the API user (`PermissionSetAssignment`).
`SalesforceStore.field_level_security = False` is the lax form (every field readable and
editable) for tests about something else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kam_sync.sandbox.salesforce.schema import FieldDef
    from kam_sync.sandbox.salesforce.store import SalesforceStore

FULL_ACCESS = (True, True)
NO_ACCESS = (False, False)


class FieldAccess:
    """The API user's (read, edit) access per custom field, recomputed when grants change."""

    def __init__(self, store: SalesforceStore) -> None:
        self._store = store
        self._key: tuple[int, int, int] | None = None
        self._grants: dict[str, tuple[bool, bool]] = {}

    def of(self, sobject: str, field_def: FieldDef) -> tuple[bool, bool]:
        """(read, edit) for one field of `sobject`; standard fields are always (True, True)."""
        store = self._store
        if not store.field_level_security or not field_def.custom:
            return FULL_ACCESS
        full_name = f"{sobject}.{field_def.name}".lower()
        if full_name in store.profile_fields:
            return FULL_ACCESS
        return self._granted().get(full_name, NO_ACCESS)

    def can_read(self, sobject: str, field_def: FieldDef) -> bool:
        return self.of(sobject, field_def)[0]

    def _granted(self) -> dict[str, tuple[bool, bool]]:
        store = self._store
        key = (
            store.table_version("FieldPermissions"),
            store.table_version("PermissionSetAssignment"),
            store.table_version("PermissionSet"),
        )
        if key != self._key:
            assigned = {
                r["PermissionSetId"]
                for r in store.records("PermissionSetAssignment")
                if r.get("AssigneeId") == store.api_user_id
            }
            grants: dict[str, tuple[bool, bool]] = {}
            for row in store.records("FieldPermissions"):
                if row.get("ParentId") not in assigned or not row.get("Field"):
                    continue
                name = str(row["Field"]).lower()
                read, edit = grants.get(name, NO_ACCESS)
                # Edit access implies read access (FieldPermissions: PermissionsEdit needs
                # PermissionsRead); grants from several permission sets add up.
                row_edit = bool(row.get("PermissionsEdit"))
                row_read = bool(row.get("PermissionsRead")) or row_edit
                grants[name] = (read or row_read, edit or row_edit)
            self._grants, self._key = grants, key
        return self._grants
