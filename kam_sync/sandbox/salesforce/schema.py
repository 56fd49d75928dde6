"""The Salesforce objects and fields the sandbox knows, and their describe output.

Field types and attributes follow the REST API's `sobjects/{Object}/describe` (DescribeField
result). Standard picklist values are Salesforce's defaults plus values the seed uses; an
org admin adds such values in real orgs. Whether a standard picklist is restricted differs
by field; the sandbox treats standard picklists as unrestricted and custom picklists created
with `restricted: true` as restricted (guess based on the Metadata API `valueSet.restricted`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kam_sync.sandbox.salesforce.ids import KEY_PREFIXES

# DescribeField type -> SOAP type, as describe reports it.
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "email": "xsd:string",
    "url": "xsd:string",
    "phone": "xsd:string",
    "boolean": "xsd:boolean",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
TEXT_TYPES = frozenset({"string", "textarea", "email", "url", "phone", "picklist", "multipicklist"})
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field as describe shows it, plus what the sandbox needs to validate writes."""

    name: str
    label: str
    type: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    custom: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    calculated: bool = False
    name_field: bool = False
    default_value: Any = None

    def describe(self) -> dict[str, Any]:
        """The DescribeField JSON of this field."""
        picklist_values = [
            {
                "active": True,
                "defaultValue": False,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in self.picklist
        ]
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "soapType": SOAP_TYPES[self.type],
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": self.precision,
            "scale": self.scale,
            "digits": self.digits,
            "updateable": self.updateable,
            "createable": self.createable,
            "nillable": self.nillable,
            "custom": self.custom,
            "calculated": self.calculated,
            "filterable": self.type != "textarea" or self.length <= 255,
            "sortable": self.type not in ("textarea", "multipicklist"),
            "groupable": self.type not in ("textarea", "multipicklist", "double", "currency"),
            "nameField": self.name_field,
            "idLookup": self.type == "id",
            "unique": False,
            "externalId": False,
            "autoNumber": False,
            "defaultedOnCreate": self.type in {"boolean", "id"},
            "defaultValue": self.default_value,
            "picklistValues": picklist_values,
            "restrictedPicklist": self.restricted,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "extraTypeInfo": "plaintextarea" if self.type == "textarea" else None,
            "htmlFormatted": False,
            "inlineHelpText": None,
        }


@dataclass(frozen=True, slots=True)
class ChildRelationship:
    """A parent-to-child relationship (`Account.AccountTeamMembers`)."""

    name: str
    child_object: str
    field: str  # the child's reference field to the parent


# Salesforce's names of the standard child relationships the sandbox's objects have.
CHILD_RELATIONSHIP_NAMES = {
    ("Opportunity", "AccountId"): "Opportunities",
    ("Contact", "AccountId"): "Contacts",
    ("AccountTeamMember", "AccountId"): "AccountTeamMembers",
    ("Account", "ParentId"): "ChildAccounts",
    ("FieldPermissions", "ParentId"): "FieldPerms",
    ("PermissionSetAssignment", "PermissionSetId"): "Assignments",
    ("PermissionSetAssignment", "AssigneeId"): "PermissionSetAssignments",
}


@dataclass(slots=True)
class ObjectSchema:
    """One sObject: its fields by lower-cased name and its relationships."""

    name: str
    label: str
    label_plural: str
    fields: dict[str, FieldDef] = field(default_factory=dict)  # lower-case name -> field
    custom_setting: bool = False
    version: int = 0  # bumped when fields change, so cached describes are invalidated

    def add(self, field_def: FieldDef) -> None:
        """Add or replace a field."""
        self.fields[field_def.name.lower()] = field_def
        self.version += 1

    def get(self, name: str) -> FieldDef | None:
        """A field by name, case-insensitively (SOQL and the REST API are)."""
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is `name` (`Owner` -> OwnerId)."""
        lowered = name.lower()
        for field_def in self.fields.values():
            if field_def.relationship_name and field_def.relationship_name.lower() == lowered:
                return field_def
        return None

    def describe(
        self, base_path: str, children: Sequence[ChildRelationship] = ()
    ) -> dict[str, Any]:
        """The `sobjects/{Object}/describe` JSON."""
        sobject_url = f"{base_path}sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": KEY_PREFIXES.get(self.name),
            "custom": self.name.endswith("__c"),
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "layoutable": True,
            "replicateable": True,
            "triggerable": True,
            "undeletable": True,
            "mergeable": self.name in ("Account", "Contact"),
            "activateable": False,
            "childRelationships": [
                {
                    "cascadeDelete": False,
                    "childSObject": child.child_object,
                    "deprecatedAndHidden": False,
                    "field": child.field,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": child.name,
                    "restrictedDelete": False,
                }
                for child in children
            ],
            "recordTypeInfos": [],
            "supportedScopes": [{"label": "All", "name": "everything"}],
            "fields": [f.describe() for f in self.fields.values()],
            "urls": {
                "sobject": sobject_url,
                "describe": f"{sobject_url}/describe",
                "rowTemplate": f"{sobject_url}/{{ID}}",
            },
        }

    def global_entry(self, base_path: str) -> dict[str, Any]:
        """This object's entry in the global `sobjects` describe."""
        sobject_url = f"{base_path}sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": KEY_PREFIXES.get(self.name),
            "custom": self.name.endswith("__c"),
            "queryable": True,
            "createable": True,
            "updateable": True,
            "urls": {"sobject": sobject_url, "describe": f"{sobject_url}/describe"},
        }


# -- field builders ---------------------------------------------------------------------


def _id() -> FieldDef:
    return FieldDef(
        "Id", "Record ID", "id", length=18, updateable=False, createable=False, nillable=False
    )


def _system(with_owner: bool = True) -> list[FieldDef]:
    fields = [
        FieldDef("IsDeleted", "Deleted", "boolean", updateable=False, createable=False,
                 nillable=False, default_value=False),
        FieldDef("CreatedDate", "Created Date", "datetime", updateable=False, createable=False,
                 nillable=False),
        FieldDef("CreatedById", "Created By ID", "reference", length=18, updateable=False,
                 createable=False, nillable=False, reference_to=("User",),
                 relationship_name="CreatedBy"),
        FieldDef("LastModifiedDate", "Last Modified Date", "datetime", updateable=False,
                 createable=False, nillable=False),
        FieldDef("LastModifiedById", "Last Modified By ID", "reference", length=18,
                 updateable=False, createable=False, nillable=False, reference_to=("User",),
                 relationship_name="LastModifiedBy"),
        FieldDef("SystemModstamp", "System Modstamp", "datetime", updateable=False,
                 createable=False, nillable=False),
    ]  # fmt: skip
    if with_owner:
        fields.append(
            FieldDef(
                "OwnerId",
                "Owner ID",
                "reference",
                length=18,
                nillable=False,
                reference_to=("User",),
                relationship_name="Owner",
            )
        )
    return fields


def _text(name: str, label: str, length: int = 255, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "string", length=length, **kw)


def _long_text(name: str, label: str, length: int = 32768, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "textarea", length=length, **kw)


def _picklist(name: str, label: str, values: Iterable[str], **kw: Any) -> FieldDef:
    return FieldDef(name, label, "picklist", length=255, picklist=tuple(values), **kw)


def _multi(name: str, label: str, values: Iterable[str], **kw: Any) -> FieldDef:
    return FieldDef(name, label, "multipicklist", length=4099, picklist=tuple(values), **kw)


def _number(name: str, label: str, precision: int, scale: int, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "double", precision=precision, scale=scale, **kw)


def _reference(name: str, label: str, target: str, relationship: str, **kw: Any) -> FieldDef:
    return FieldDef(
        name, label, "reference", length=18, reference_to=(target,),
        relationship_name=relationship, **kw,
    )  # fmt: skip


def _custom(field_def: FieldDef) -> FieldDef:
    return replace(field_def, custom=True)


TEAM_ROLE_LABELS = (
    "Technical Expert",
    "Relationship Manager",
    "Collaborator",
    "Project Leader",
    "Innovator",
    "Results Driver",
)
TIER_LABELS = ("Strategic", "Key", "Emerging", "Watchlist", "None")
ACCOUNT_TYPES = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
INDUSTRIES = (
    "Agriculture", "Apparel", "Automotive", "Banking", "Biotechnology", "Chemicals",
    "Communications", "Construction", "Consulting", "Education", "Electronics", "Energy",
    "Engineering", "Entertainment", "Environmental", "Finance", "Financial Services",
    "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Logistics",
    "Machinery", "Manufacturing", "Media", "Not For Profit", "Pharmaceuticals",
    "Public Sector", "Recreation", "Retail", "Shipping", "Technology", "Telecommunications",
    "Transportation", "Utilities", "Other",
)  # fmt: skip
OPPORTUNITY_STAGES = (
    "Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
    "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won",
    "Closed Lost",
)  # fmt: skip
CLOSED_STAGES = {"Closed Won": True, "Closed Lost": False}  # stage -> is won
OPPORTUNITY_TYPES = (
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
    "Renewal",
)
ACCOUNT_TEAM_ROLES = (
    "Account Manager", "Channel Manager", "Executive Sponsor", "Lead Qualifier",
    "Pre-Sales Consultant", "Sales Manager", "Sales Rep", *TEAM_ROLE_LABELS,
)  # fmt: skip


def _account() -> ObjectSchema:
    schema = ObjectSchema("Account", "Account", "Accounts")
    fields = [
        _id(),
        _text("Name", "Account Name", nillable=False, name_field=True),
        _picklist("Type", "Account Type", ACCOUNT_TYPES),
        _reference("ParentId", "Parent Account ID", "Account", "Parent"),
        _picklist("Industry", "Industry", INDUSTRIES),
        _text("BillingCountry", "Billing Country", 80),
        _text("BillingCity", "Billing City", 40),
        FieldDef("AnnualRevenue", "Annual Revenue", "currency", precision=18, scale=0),
        FieldDef("NumberOfEmployees", "Employees", "int", digits=8),
        FieldDef("Website", "Website", "url", length=255),
        *_system(),
        # KAM inputs, created by the customer's admin (the domain contract).
        _custom(_picklist("KAM_Tier_Override__c", "KAM Tier Override", TIER_LABELS,
                          restricted=True)),
        _custom(_picklist("KAM_Relationship_Strength__c", "KAM Relationship Strength",
                          ("Weak", "Moderate", "Strong", "Strategic Partner"), restricted=True)),
        _custom(_picklist("KAM_Logo_Attractiveness__c", "KAM Logo Attractiveness",
                          ("Low", "Medium", "High", "Flagship"), restricted=True)),
        _custom(_picklist("KAM_Strategic_Fit__c", "KAM Strategic Fit",
                          ("Low", "Medium", "High"), restricted=True)),
        _custom(FieldDef("KAM_Public_Company__c", "KAM Public Company", "boolean",
                         nillable=False, default_value=False)),
        _custom(_text("KAM_Executive_Sponsor__c", "KAM Executive Sponsor")),
        _custom(_long_text("KAM_Competitors__c", "KAM Competitors")),
        _custom(_number("KAM_Contacts_Engaged__c", "KAM Contacts Engaged", 18, 0)),
        _custom(_long_text("KAM_Checklist_Answers__c", "KAM Checklist Answers")),
        _custom(_long_text("KAM_Checklist_Not_Applicable__c", "KAM Checklist Not Applicable")),
        _custom(FieldDef("KAM_Account_Plan_Started__c", "KAM Account Plan Started", "date")),
        _custom(FieldDef("KAM_Last_Review_Date__c", "KAM Last Review Date", "date")),
        _custom(_multi("KAM_Team_Roles__c", "KAM Team Roles", TEAM_ROLE_LABELS,
                       restricted=True)),
    ]  # fmt: skip
    for field_def in fields:
        schema.add(field_def)
    return schema


def _opportunity() -> ObjectSchema:
    schema = ObjectSchema("Opportunity", "Opportunity", "Opportunities")
    fields = [
        _id(),
        _reference("AccountId", "Account ID", "Account", "Account"),
        _text("Name", "Name", 120, nillable=False, name_field=True),
        FieldDef("Amount", "Amount", "currency", precision=18, scale=2),
        _picklist("StageName", "Stage", OPPORTUNITY_STAGES, nillable=False),
        FieldDef("Probability", "Probability (%)", "percent", precision=3, scale=0),
        FieldDef("CloseDate", "Close Date", "date", nillable=False),
        _picklist("Type", "Opportunity Type", OPPORTUNITY_TYPES),
        # Derived from the stage, as in Salesforce.
        FieldDef("IsClosed", "Closed", "boolean", updateable=False, createable=False,
                 nillable=False, default_value=False),
        FieldDef("IsWon", "Won", "boolean", updateable=False, createable=False,
                 nillable=False, default_value=False),
        *_system(),
    ]  # fmt: skip
    for field_def in fields:
        schema.add(field_def)
    return schema


def _user() -> ObjectSchema:
    schema = ObjectSchema("User", "User", "Users")
    fields = [
        _id(),
        _text("Username", "Username", 80, nillable=False),
        _text("FirstName", "First Name", 40),
        _text("LastName", "Last Name", 80, nillable=False),
        _text("Name", "Full Name", 121, updateable=False, createable=False, nillable=False,
              name_field=True),
        FieldDef("Email", "Email", "email", length=128, nillable=False),
        FieldDef("IsActive", "Active", "boolean", nillable=False, default_value=True),
        *_system(with_owner=False),
    ]  # fmt: skip
    for field_def in fields:
        schema.add(field_def)
    return schema


def _contact() -> ObjectSchema:
    schema = ObjectSchema("Contact", "Contact", "Contacts")
    fields = [
        _id(),
        _reference("AccountId", "Account ID", "Account", "Account"),
        _text("FirstName", "First Name", 40),
        _text("LastName", "Last Name", 80, nillable=False),
        _text("Name", "Full Name", 121, updateable=False, createable=False, nillable=False,
              name_field=True),
        FieldDef("Email", "Email", "email", length=80),
        _text("Title", "Title", 128),
        *_system(),
    ]  # fmt: skip
    for field_def in fields:
        schema.add(field_def)
    return schema


def _account_team_member() -> ObjectSchema:
    schema = ObjectSchema("AccountTeamMember", "Account Team Member", "Account Team Members")
    fields = [
        _id(),
        _reference("AccountId", "Account ID", "Account", "Account", nillable=False,
                   updateable=False),
        _reference("UserId", "User ID", "User", "User", nillable=False, updateable=False),
        _picklist("TeamMemberRole", "Team Role", ACCOUNT_TEAM_ROLES),
        _picklist("AccountAccessLevel", "Account Access", ("Read", "Edit", "All"),
                  nillable=False),
        *_system(with_owner=False),
    ]  # fmt: skip
    for field_def in fields:
        schema.add(field_def)
    return schema


def _permission_set() -> ObjectSchema:
    schema = ObjectSchema("PermissionSet", "Permission Set", "Permission Sets")
    fields = [
        _id(),
        _text("Name", "Name", 80, nillable=False, name_field=True),
        _text("Label", "Label", 80, nillable=False),
        _text("Description", "Description", 255),
        FieldDef("IsOwnedByProfile", "Is Owned By Profile", "boolean", updateable=False,
                 createable=False, nillable=False, default_value=False),
        *_system(with_owner=False),
    ]  # fmt: skip
    for field_def in fields:
        schema.add(field_def)
    return schema


def _field_permissions() -> ObjectSchema:
    schema = ObjectSchema("FieldPermissions", "Field Permissions", "Field Permissions")
    fields = [
        _id(),
        _reference("ParentId", "Parent ID", "PermissionSet", "Parent", nillable=False,
                   updateable=False),
        _text("SobjectType", "Object Type", 80, nillable=False, updateable=False),
        _text("Field", "Field", 255, nillable=False, updateable=False),
        FieldDef("PermissionsRead", "Read Access", "boolean", nillable=False,
                 default_value=False),
        FieldDef("PermissionsEdit", "Edit Access", "boolean", nillable=False,
                 default_value=False),
        *_system(with_owner=False),
    ]  # fmt: skip
    for field_def in fields:
        schema.add(field_def)
    return schema


def _permission_set_assignment() -> ObjectSchema:
    schema = ObjectSchema(
        "PermissionSetAssignment", "Permission Set Assignment", "Permission Set Assignments"
    )
    fields = [
        _id(),
        _reference("AssigneeId", "Assignee ID", "User", "Assignee", nillable=False,
                   updateable=False),
        _reference("PermissionSetId", "Permission Set ID", "PermissionSet", "PermissionSet",
                   nillable=False, updateable=False),
        *_system(with_owner=False),
    ]  # fmt: skip
    for field_def in fields:
        schema.add(field_def)
    return schema


def _custom_field() -> ObjectSchema:
    """Tooling API `CustomField` (only what a query for existing fields needs)."""
    schema = ObjectSchema("CustomField", "Custom Field", "Custom Fields")
    fields = [
        _id(),
        _text("DeveloperName", "Developer Name", 40, updateable=False),
        _text("TableEnumOrId", "Table Enum Or Id", 40, updateable=False),
        _text("FullName", "Full Name", 255, updateable=False),
        _text("NamespacePrefix", "Namespace Prefix", 15, updateable=False),
        _text("Description", "Description", 255),
        *_system(with_owner=False),
    ]  # fmt: skip
    for field_def in fields:
        schema.add(field_def)
    return schema


DATA_OBJECTS = (
    "Account",
    "Opportunity",
    "User",
    "Contact",
    "AccountTeamMember",
    "PermissionSet",
    "FieldPermissions",
    "PermissionSetAssignment",
)
TOOLING_OBJECTS = ("CustomField",)


class SchemaRegistry:
    """The org's objects (data API) and Tooling API objects; thread-safe for field adds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        builders = (
            _account, _opportunity, _user, _contact, _account_team_member, _permission_set,
            _field_permissions, _permission_set_assignment,
        )  # fmt: skip
        self.objects: dict[str, ObjectSchema] = {}
        for build in builders:
            schema = build()
            self.objects[schema.name.lower()] = schema
        tooling = _custom_field()
        self.tooling: dict[str, ObjectSchema] = {tooling.name.lower(): tooling}

    def get(self, name: str, *, tooling: bool = False) -> ObjectSchema | None:
        """An object by name, case-insensitively."""
        return (self.tooling if tooling else self.objects).get(name.lower())

    def add_field(self, sobject: str, field_def: FieldDef) -> None:
        """Add a (custom) field to an object, as the Tooling API does."""
        with self._lock:
            self.objects[sobject.lower()].add(field_def)

    def child_relationships(self, parent: str) -> list[ChildRelationship]:
        """The named child relationships of an object."""
        found = []
        for (child, field_name), name in CHILD_RELATIONSHIP_NAMES.items():
            child_schema = self.objects.get(child.lower())
            field_def = child_schema.get(field_name) if child_schema is not None else None
            if field_def is not None and parent in field_def.reference_to:
                found.append(ChildRelationship(name, child, field_name))
        return found

    def names(self) -> Sequence[str]:
        """The data objects' names."""
        return [schema.name for schema in self.objects.values()]
