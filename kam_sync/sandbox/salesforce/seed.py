"""Load the CRM-neutral seeded portfolio into the Salesforce sandbox, in Salesforce's words."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from kam_sync.sandbox.portfolio import Portfolio, SeedCompany, SeedKamInputs
from kam_sync.sandbox.salesforce.ids import make_id
from kam_sync.sandbox.salesforce.store import API_USER_NUMBER, SalesforceStore

ACCOUNT_TYPE_LABELS = {
    "customer_direct": "Customer - Direct",
    "customer_channel": "Customer - Channel",
    "prospect": "Prospect",
    "partner": "Channel Partner / Reseller",
    "other": "Other",
}
STAGE_LABELS = {
    "prospecting": "Prospecting",
    "qualification": "Qualification",
    "needs_analysis": "Needs Analysis",
    "proposal": "Proposal/Price Quote",
    "negotiation": "Negotiation/Review",
    "closed_won": "Closed Won",
    "closed_lost": "Closed Lost",
}
OPPORTUNITY_TYPE_LABELS = {
    "new_business": "New Customer",
    "renewal": "Renewal",
    "expansion": "Existing Customer - Upgrade",
}
TIER_LABELS = {
    "strategic": "Strategic",
    "key": "Key",
    "emerging": "Emerging",
    "watchlist": "Watchlist",
    "none": "None",
}


def _label(word: str) -> str:
    """`strategic_partner` -> `Strategic Partner`."""
    return word.replace("_", " ").title()


def _modstamp(created: dt.datetime, as_of: dt.datetime, key: int) -> dt.datetime:
    # Records were last touched somewhere between their creation and the seed's as_of.
    span = max(0, int((as_of - created).total_seconds()))
    return (created + dt.timedelta(seconds=(key * 7919) % (span + 1))).replace(microsecond=0)


def seed_store(store: SalesforceStore, portfolio: Portfolio) -> None:
    """Fill an empty store with the portfolio's users, accounts, opportunities and teams."""
    as_of = portfolio.as_of
    api_user = store.api_user_id
    account = store.schema.objects["account"]
    created = (as_of - dt.timedelta(days=4 * 365)).replace(microsecond=0)
    base = {
        "IsDeleted": False,
        "CreatedDate": created,
        "CreatedById": api_user,
        "LastModifiedById": api_user,
    }
    store.put_seed(
        "User",
        {
            **base,
            "Id": api_user,
            "Username": "kam-sync@sandbox.example.com",
            "FirstName": "KAM",
            "LastName": "Integration",
            "Name": "KAM Integration",
            "Email": "kam-sync@sandbox.example.com",
            "IsActive": True,
            "LastModifiedDate": created,
            "SystemModstamp": created,
        },
    )
    assert API_USER_NUMBER == 0
    # The integration user's system permissions (UserPermissionAccess: one row, the running
    # user's). An integration user has API access, can read setup and, for provisioning,
    # customize the application; it has no Modify All Data.
    store.put_seed(
        "UserPermissionAccess",
        {
            **base,
            "Id": "000000000000000AAA",
            "LastModifiedDate": created,
            "SystemModstamp": created,
            "PermissionsApiEnabled": True,
            "PermissionsViewSetup": True,
            "PermissionsCustomizeApplication": True,
            "PermissionsModifyAllData": False,
        },
    )
    for user in portfolio.users:
        first, _, last = user.name.partition(" ")
        store.put_seed(
            "User",
            {
                **base,
                "Id": make_id("User", user.key),
                "Username": user.email,
                "FirstName": first,
                "LastName": last or first,
                "Name": user.name,
                "Email": user.email,
                "IsActive": True,
                "LastModifiedDate": created,
                "SystemModstamp": created,
            },
        )
    company_keys = {c.key for c in portfolio.companies}
    for company in portfolio.companies:
        record = _account(company, as_of, api_user)
        # An org without the KAM input fields (a new customer's) holds no values for them.
        store.put_seed("Account", {k: v for k, v in record.items() if account.get(k) is not None})
        if company.kam is not None:
            _contacts(store, company, company.kam, as_of, api_user)
    for deal in portfolio.deals:
        created_at = deal.created_at.replace(microsecond=0)
        stamp = _modstamp(created_at, as_of, deal.key)
        # Salesforce cannot hold a lookup to a missing account (deleting an account deletes
        # its opportunities), so both kinds of orphan deal become opportunities without one.
        account_id = (
            make_id("Account", deal.company_key) if deal.company_key in company_keys else None
        )
        owner_key = 1 + (deal.company_key or deal.key) % max(1, len(portfolio.users))
        store.put_seed(
            "Opportunity",
            {
                "Id": make_id("Opportunity", deal.key),
                "IsDeleted": False,
                "AccountId": account_id,
                "Name": deal.name[:120],
                "Amount": deal.amount,
                "StageName": STAGE_LABELS[deal.stage],
                "Probability": Decimal(deal.probability),
                "CloseDate": deal.close_date,
                "Type": OPPORTUNITY_TYPE_LABELS[deal.deal_type],
                "IsClosed": deal.is_closed,
                "IsWon": deal.is_won,
                "OwnerId": make_id("User", owner_key) if portfolio.users else api_user,
                "CreatedDate": created_at,
                "CreatedById": api_user,
                "LastModifiedDate": stamp,
                "LastModifiedById": api_user,
                "SystemModstamp": stamp,
            },
        )
    _team(store, portfolio, company_keys, base, created)
    store.order_tables_by_modstamp()


def _team(
    store: SalesforceStore,
    portfolio: Portfolio,
    company_keys: set[int],
    base: dict[str, Any],
    created: dt.datetime,
) -> None:
    for number, member in enumerate(portfolio.team_members, start=1):
        if member.company_key not in company_keys:
            continue
        store.put_seed(
            "AccountTeamMember",
            {
                **base,
                "Id": make_id("AccountTeamMember", number),
                "AccountId": make_id("Account", member.company_key),
                "UserId": make_id("User", member.user_key),
                "TeamMemberRole": _label(member.role),
                "AccountAccessLevel": "Edit",
                "LastModifiedDate": created,
                "SystemModstamp": created,
            },
        )


def _account(company: SeedCompany, as_of: dt.datetime, api_user: str) -> dict[str, Any]:
    created_at = company.created_at.replace(microsecond=0)
    stamp = _modstamp(created_at, as_of, company.key)
    kam = company.kam
    record: dict[str, Any] = {
        "Id": make_id("Account", company.key),
        "IsDeleted": False,
        # Salesforce requires an Account Name: a company seeded without one is stored as "-",
        # as a person entering it would have had to.
        "Name": company.name or "-",
        "Type": ACCOUNT_TYPE_LABELS.get(company.account_type or ""),
        "ParentId": None if company.parent_key is None else make_id("Account", company.parent_key),
        "Industry": company.industry,
        "BillingCountry": company.country,
        "BillingCity": None,
        "AnnualRevenue": company.annual_revenue,
        "NumberOfEmployees": company.employees,
        "Website": None if company.domain is None else f"https://www.{company.domain}",
        "OwnerId": make_id("User", company.owner_key),
        "CreatedDate": created_at,
        "CreatedById": api_user,
        "LastModifiedDate": stamp,
        "LastModifiedById": api_user,
        "SystemModstamp": stamp,
        "KAM_Public_Company__c": False,
    }
    if kam is not None:
        record.update(
            KAM_Tier_Override__c=TIER_LABELS.get(kam.tier_override or ""),
            KAM_Relationship_Strength__c=_optional_label(kam.relationship_strength),
            KAM_Logo_Attractiveness__c=_optional_label(kam.logo_attractiveness),
            KAM_Strategic_Fit__c=_optional_label(kam.strategic_fit),
            KAM_Public_Company__c=bool(kam.public_company),
            KAM_Executive_Sponsor__c=kam.executive_sponsor,
            KAM_Competitors__c=";".join(kam.competitors) or None,
            KAM_Contacts_Engaged__c=(
                None if kam.contacts_engaged is None else Decimal(kam.contacts_engaged)
            ),
            KAM_Checklist_Answers__c=";".join(kam.checklist_answers) or None,
            KAM_Checklist_Not_Applicable__c=";".join(kam.checklist_not_applicable) or None,
            KAM_Account_Plan_Started__c=kam.account_plan_started,
            KAM_Last_Review_Date__c=kam.last_review_date,
            KAM_Team_Roles__c=";".join(_label(r) for r in kam.team_roles) or None,
        )
    return record


def _optional_label(word: str | None) -> str | None:
    return None if word is None else _label(word)


_FIRST = ("Alex", "Sam", "Robin", "Kim", "Jo", "Chris", "Pat", "Lee")
_LAST = ("Berg", "Moreau", "Silva", "Nakamura", "Okafor", "Lindqvist", "Novak", "Haddad")
_TITLES = ("CFO", "Head of Procurement", "IT Director", "COO", "VP Operations", "CTO")


def _contacts(
    store: SalesforceStore,
    company: SeedCompany,
    kam: SeedKamInputs,
    as_of: dt.datetime,
    api_user: str,
) -> None:
    # A few named contacts on accounts whose team tracks KAM inputs; deterministic by key.
    count = 1 + company.key % 3
    created_at = company.created_at.replace(microsecond=0)
    for index in range(count):
        number = company.key * 3 + index
        first = _FIRST[number % len(_FIRST)]
        last = _LAST[(number // len(_FIRST)) % len(_LAST)]
        stamp = _modstamp(created_at, as_of, number)
        store.put_seed(
            "Contact",
            {
                "Id": make_id("Contact", number),
                "IsDeleted": False,
                "AccountId": make_id("Account", company.key),
                "FirstName": first,
                "LastName": last,
                "Name": f"{first} {last}",
                "Email": f"{first}.{last}{number}@example.org".lower(),
                "Title": _TITLES[number % len(_TITLES)],
                "OwnerId": make_id("User", company.owner_key),
                "CreatedDate": created_at,
                "CreatedById": api_user,
                "LastModifiedDate": stamp,
                "LastModifiedById": api_user,
                "SystemModstamp": stamp,
            },
        )
