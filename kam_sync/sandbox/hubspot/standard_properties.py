"""The properties a portal has before kam-sync touches it: HubSpot's own and the KAM inputs.

Company and deal standard properties follow HubSpot's defaults (names, types, the default
deal pipeline's stages). The KAM input properties in group `kam_inputs` are the ones the
customer's admin created (see the shared domain contract). KAM output properties (group
`kam`) are NOT here: `kam-sync provision` creates them through the properties API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from kam_sync.sandbox.hubspot.properties import (
    PropertyDefinition,
    PropertyGroup,
    PropertyOption,
    PropertyRegistry,
)
from kam_sync.sandbox.portfolio import (
    INDUSTRIES,
    LOGO_ATTRACTIVENESS,
    RELATIONSHIP_STRENGTHS,
    STRATEGIC_FITS,
    TEAM_ROLES,
    TIERS,
)

if TYPE_CHECKING:
    from kam_sync.sandbox.hubspot.store import ObjectTable

# Canonical deal stage -> the default pipeline's stage id.
DEAL_STAGE_IDS = {
    "prospecting": "appointmentscheduled",
    "qualification": "qualifiedtobuy",
    "needs_analysis": "presentationscheduled",
    "proposal": "decisionmakerboughtin",
    "negotiation": "contractsent",
    "closed_won": "closedwon",
    "closed_lost": "closedlost",
}
DEAL_STAGE_LABELS = {
    "appointmentscheduled": "Appointment Scheduled",
    "qualifiedtobuy": "Qualified To Buy",
    "presentationscheduled": "Presentation Scheduled",
    "decisionmakerboughtin": "Decision Maker Bought-In",
    "contractsent": "Contract Sent",
    "closedwon": "Closed Won",
    "closedlost": "Closed Lost",
}
# `renewal` is a custom option the customer's admin added to dealtype (domain contract).
DEAL_TYPE_VALUES = {
    "new_business": "newbusiness",
    "expansion": "existingbusiness",
    "renewal": "renewal",
}
# HubSpot's company `type` has PROSPECT, PARTNER, RESELLER, VENDOR, OTHER; guessed: the
# portal added CUSTOMER, as many do, so seeded customers keep their meaning.
COMPANY_TYPE_VALUES = {
    "customer_direct": "CUSTOMER",
    "customer_channel": "RESELLER",
    "prospect": "PROSPECT",
    "partner": "PARTNER",
    "other": "OTHER",
}


def industry_value(label: str) -> str:
    """HubSpot's industry options are upper-snake words: `Food & Beverage` -> `FOOD_BEVERAGE`."""
    return "_".join(word for word in label.upper().replace("&", " ").split())


def _options(values: list[tuple[str, str]]) -> list[PropertyOption]:
    return [
        PropertyOption(label=label, value=value, display_order=i)
        for i, (value, label) in enumerate(values)
    ]


def _title(value: str) -> str:
    return value.replace("_", " ").title()


def _canonical_options(values: tuple[str, ...]) -> list[PropertyOption]:
    return _options([(v, _title(v)) for v in values])


def _std(
    name: str, label: str, type_: str, field_type: str, group: str, **kwargs: object
) -> PropertyDefinition:
    return PropertyDefinition(
        name=name,
        label=label,
        type=type_,
        field_type=field_type,
        group_name=group,
        hubspot_defined=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _read_only(
    name: str, label: str, type_: str, field_type: str, group: str
) -> PropertyDefinition:
    return _std(name, label, type_, field_type, group, read_only_value=True, form_field=False)


COMPANY_CURRENCY = "USD"


def currency_code_property(company_currency: str, others: Iterable[str]) -> PropertyDefinition:
    """``deal_currency_code``: an option per currency of the account; HubSpot refuses any other
    code with 400 INVALID_OPTION (developers.hubspot.com/changelog/deal-currenct-code-validation,
    effective 2023-07-31)."""
    codes = [company_currency, *sorted(set(others) - {company_currency})]
    return _std(
        "deal_currency_code",
        "Currency",
        "enumeration",
        "select",
        "dealinformation",
        options=_options([(c, c) for c in codes]),
    )


def company_registry(owner_ids: list[str]) -> PropertyRegistry:
    """Company properties: HubSpot standard ones plus the KAM inputs."""
    registry = PropertyRegistry("companies")
    info = "companyinformation"
    registry.add_group(PropertyGroup(info, "Company information", 0))
    registry.add_group(PropertyGroup("kam_inputs", "KAM inputs", 10))
    owner_options = [
        PropertyOption(label=i, value=i, display_order=n) for n, i in enumerate(owner_ids)
    ]
    for definition in (
        _std("name", "Name", "string", "text", info),
        _std("domain", "Company domain name", "string", "text", info),
        _std(
            "industry",
            "Industry",
            "enumeration",
            "select",
            info,
            options=_options([(industry_value(i), i) for i in INDUSTRIES]),
        ),
        _std("country", "Country/Region", "string", "text", info),
        _std("numberofemployees", "Number of Employees", "number", "number", info),
        _std("annualrevenue", "Annual Revenue", "number", "number", info),
        _std(
            "type",
            "Type",
            "enumeration",
            "select",
            info,
            options=_options(
                [(v, _title(v.lower())) for v in (*COMPANY_TYPE_VALUES.values(), "VENDOR")]
            ),
        ),
        _std(
            "hubspot_owner_id",
            "Company owner",
            "enumeration",
            "select",
            info,
            options=owner_options,
        ),
        _read_only("createdate", "Create Date", "datetime", "date", info),
        _read_only("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", info),
        _read_only("hs_object_id", "Record ID", "number", "number", info),
        # Ids merged into this record, ";"-separated (HubSpot's default property; merges below).
        _read_only("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox", info),
        *kam_input_properties(),
    ):
        registry.add(definition)
    return registry


def kam_input_properties() -> list[PropertyDefinition]:
    """The KAM input properties the customer's admin created in group `kam_inputs`."""
    group = "kam_inputs"

    def custom(
        name: str, label: str, type_: str, field_type: str, **kwargs: object
    ) -> PropertyDefinition:
        return PropertyDefinition(
            name=name,
            label=label,
            type=type_,
            field_type=field_type,
            group_name=group,
            **kwargs,  # type: ignore[arg-type]
        )

    return [
        custom(
            "kam_tier_override",
            "KAM tier override",
            "enumeration",
            "select",
            options=_canonical_options(TIERS),
        ),
        custom(
            "kam_relationship_strength",
            "Relationship strength",
            "enumeration",
            "select",
            options=_canonical_options(RELATIONSHIP_STRENGTHS),
        ),
        custom(
            "kam_logo_attractiveness",
            "Logo attractiveness",
            "enumeration",
            "select",
            options=_canonical_options(LOGO_ATTRACTIVENESS),
        ),
        custom(
            "kam_strategic_fit",
            "Strategic fit",
            "enumeration",
            "select",
            options=_canonical_options(STRATEGIC_FITS),
        ),
        custom(
            "kam_public_company",
            "Public company",
            "bool",
            "booleancheckbox",
            options=_options([("true", "Yes"), ("false", "No")]),
        ),
        custom("kam_executive_sponsor", "Executive sponsor", "string", "text"),
        custom("kam_competitors", "Competitors", "string", "textarea"),
        custom("kam_contacts_engaged", "Contacts engaged", "number", "number"),
        custom("kam_checklist_answers", "Checklist answers", "string", "textarea"),
        custom("kam_checklist_not_applicable", "Checklist not applicable", "string", "textarea"),
        custom("kam_account_plan_started", "Account plan started", "date", "date"),
        custom("kam_last_review_date", "Last review date", "date", "date"),
        custom(
            "kam_team_roles",
            "Team roles",
            "enumeration",
            "checkbox",
            options=_canonical_options(TEAM_ROLES),
        ),
    ]


def remove_kam_inputs(companies: ObjectTable) -> None:
    """Make the portal a new customer's: no KAM input properties, and no values for them."""
    for definition in kam_input_properties():
        companies.registry.remove(definition.name)
        companies.readers.pop(definition.name, None)


def deal_registry(owner_ids: list[str]) -> PropertyRegistry:
    """Deal properties of the default pipeline."""
    registry = PropertyRegistry("deals")
    info = "dealinformation"
    registry.add_group(PropertyGroup(info, "Deal information", 0))
    owner_options = [
        PropertyOption(label=i, value=i, display_order=n) for n, i in enumerate(owner_ids)
    ]
    for definition in (
        _std("dealname", "Deal Name", "string", "text", info),
        _std("amount", "Amount", "number", "number", info),
        currency_code_property(COMPANY_CURRENCY, ()),
        # Calculated by HubSpot: amount times the deal currency's exchange rate to the company
        # currency (developers.hubspot.com/docs/api/settings/currencies, conversionRate).
        _read_only(
            "amount_in_home_currency", "Amount in company currency", "number", "number", info
        ),
        _std(
            "dealstage",
            "Deal Stage",
            "enumeration",
            "radio",
            info,
            options=_options(list(DEAL_STAGE_LABELS.items())),
        ),
        _std(
            "pipeline",
            "Pipeline",
            "enumeration",
            "select",
            info,
            options=_options([("default", "Sales Pipeline")]),
        ),
        _std("closedate", "Close Date", "datetime", "date", info),
        _std(
            "dealtype",
            "Deal Type",
            "enumeration",
            "radio",
            info,
            options=_options(
                [
                    ("newbusiness", "New Business"),
                    ("existingbusiness", "Existing Business"),
                    ("renewal", "Renewal"),
                ]
            ),
        ),
        _std(
            "hubspot_owner_id", "Deal owner", "enumeration", "select", info, options=owner_options
        ),
        _read_only("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", info),
        _read_only("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", info),
        _read_only("hs_deal_stage_probability", "Deal probability", "number", "number", info),
        _read_only("createdate", "Create Date", "datetime", "date", info),
        _read_only("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", info),
        _read_only("hs_object_id", "Record ID", "number", "number", info),
        # Ids merged into this record, ";"-separated (HubSpot's default property; merges below).
        _read_only("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox", info),
    ):
        registry.add(definition)
    return registry
