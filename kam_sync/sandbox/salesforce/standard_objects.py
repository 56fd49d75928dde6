"""The objects of the sandbox's org: standard objects, the KAM input fields, Tooling objects.

Standard picklist values are Salesforce's defaults plus values the seed uses; an org admin
adds such values in real orgs. Whether a standard picklist is restricted differs by field;
the sandbox treats standard picklists as unrestricted and custom picklists created with
`restricted: true` as restricted (guess based on the Metadata API `valueSet.restricted`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from kam_sync.sandbox.salesforce.schema import FieldDef, ObjectSchema, SchemaRegistry

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
        # Set on the record a merge deleted: the id of the account that absorbed it.
        _reference("MasterRecordId", "Master Record ID", "Account", "MasterRecord",
                   updateable=False, createable=False),
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


def _user_permission_access() -> ObjectSchema:
    """`UserPermissionAccess`: the running user's system permissions, one row (Object
    Reference, "UserPermissionAccess": "the permissions of the current user", API 37.0+)."""
    schema = ObjectSchema(
        "UserPermissionAccess", "User Permission Access", "User Permission Access"
    )
    schema.add(_id())
    for field_def in _system(with_owner=False):
        schema.add(field_def)
    for name, label in USER_PERMISSIONS.items():
        schema.add(FieldDef(name, label, "boolean", updateable=False, createable=False,
                            nillable=False, default_value=False))  # fmt: skip
    return schema


# The system permissions `kam-sync doctor` asks about (UserPermissionAccess field -> label).
USER_PERMISSIONS = {
    "PermissionsApiEnabled": "API Enabled",
    "PermissionsViewSetup": "View Setup and Configuration",
    "PermissionsCustomizeApplication": "Customize Application",
    "PermissionsModifyAllData": "Modify All Data",
}
# The KAM input fields a customer's admin made on Account; a new org has none of them.
KAM_INPUT_FIELDS = (
    "KAM_Tier_Override__c", "KAM_Relationship_Strength__c", "KAM_Logo_Attractiveness__c",
    "KAM_Strategic_Fit__c", "KAM_Public_Company__c", "KAM_Executive_Sponsor__c",
    "KAM_Competitors__c", "KAM_Contacts_Engaged__c", "KAM_Checklist_Answers__c",
    "KAM_Checklist_Not_Applicable__c", "KAM_Account_Plan_Started__c", "KAM_Last_Review_Date__c",
    "KAM_Team_Roles__c",
)  # fmt: skip


def standard_registry(*, kam_inputs: bool = True) -> SchemaRegistry:
    """A fresh schema of the sandbox org (each sandbox owns its copy: fields get added).

    ``kam_inputs=False``: an org as a new customer has it, without the KAM input fields.
    """
    builders = (
        _account, _opportunity, _user, _contact, _account_team_member, _permission_set,
        _field_permissions, _permission_set_assignment, _user_permission_access,
    )  # fmt: skip
    registry = SchemaRegistry([build() for build in builders], [_custom_field()])
    if not kam_inputs:
        registry.remove_fields("Account", KAM_INPUT_FIELDS)
    return registry
