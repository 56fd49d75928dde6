"""How the seeded portfolio's rows read as HubSpot property values (strings, HubSpot's
option values), and the ids the portal gives them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kam_sync.sandbox.hubspot.properties import format_number, iso_millis
from kam_sync.sandbox.hubspot.standard_properties import (
    COMPANY_CURRENCY,
    COMPANY_TYPE_VALUES,
    DEAL_STAGE_IDS,
    DEAL_TYPE_VALUES,
    currency_code_property,
    industry_value,
)
from kam_sync.sandbox.portfolio import SeedDeal

if TYPE_CHECKING:
    from kam_sync.sandbox.hubspot.store import HubSpotStore

# Record ids look like a real portal's (large numbers, distinct per object type) so a test
# that mixes up a company id and a deal id fails instead of passing by accident.
COMPANY_ID_BASE = 9_000_000_000
DEAL_ID_BASE = 12_000_000_000
OWNER_ID_BASE = 70_000_000
USER_ID_BASE = 5_000_000
# Stage probabilities of HubSpot's default pipeline.
STAGE_PROBABILITY = {
    "appointmentscheduled": "0.2",
    "qualifiedtobuy": "0.4",
    "presentationscheduled": "0.6",
    "decisionmakerboughtin": "0.8",
    "contractsent": "0.9",
    "closedwon": "1",
    "closedlost": "0",
}
CLOSED_STAGES = {"closedwon", "closedlost"}

Reader = Callable[[Any], "str | None"]


def _joined(items: list[str]) -> str | None:
    return ";".join(items) if items else None


def company_readers() -> dict[str, Reader]:
    """Property name -> how a seeded company's value of it reads."""

    def kam(getter: Callable[[Any], str | None]) -> Reader:
        return lambda c: None if c.kam is None else getter(c.kam)

    return {
        "name": lambda c: c.name or None,
        "domain": lambda c: c.domain,
        "industry": lambda c: None if c.industry is None else industry_value(c.industry),
        "country": lambda c: c.country,
        "numberofemployees": lambda c: None if c.employees is None else str(c.employees),
        "annualrevenue": lambda c: (
            None if c.annual_revenue is None else format_number(c.annual_revenue)
        ),
        "type": lambda c: None if c.account_type is None else COMPANY_TYPE_VALUES[c.account_type],
        "hubspot_owner_id": lambda c: str(OWNER_ID_BASE + c.owner_key),
        "kam_tier_override": kam(lambda k: k.tier_override),
        "kam_relationship_strength": kam(lambda k: k.relationship_strength),
        "kam_logo_attractiveness": kam(lambda k: k.logo_attractiveness),
        "kam_strategic_fit": kam(lambda k: k.strategic_fit),
        "kam_public_company": kam(
            lambda k: None if k.public_company is None else str(k.public_company).lower()
        ),
        "kam_executive_sponsor": kam(lambda k: k.executive_sponsor),
        "kam_competitors": kam(lambda k: _joined(k.competitors)),
        "kam_contacts_engaged": kam(
            lambda k: None if k.contacts_engaged is None else str(k.contacts_engaged)
        ),
        "kam_checklist_answers": kam(lambda k: _joined(k.checklist_answers)),
        "kam_checklist_not_applicable": kam(lambda k: _joined(k.checklist_not_applicable)),
        "kam_account_plan_started": kam(
            lambda k: None if k.account_plan_started is None else k.account_plan_started.isoformat()
        ),
        "kam_last_review_date": kam(
            lambda k: None if k.last_review_date is None else k.last_review_date.isoformat()
        ),
        "kam_team_roles": kam(lambda k: _joined(k.team_roles)),
    }


@dataclass(frozen=True, slots=True)
class PortalCurrencies:
    """The account's company currency and the others it has, each with its exchange rate: how
    many units of the company currency one unit of it is worth (HubSpot's ``conversionRate``,
    "the exchange rate from the additional currency to your company currency",
    developers.hubspot.com/docs/api/settings/currencies).

    A deal's ``amount`` is in its ``deal_currency_code``; HubSpot calculates
    ``amount_in_home_currency`` = amount x rate. Seeded deals take the currencies in turn by
    key (the company currency first). ``amount_in_home_currency`` is a calculated property:
    HubSpot recomputes it when ``amount`` or ``deal_currency_code`` changes, and so does the
    sandbox's store on every write (``HubSpotStore.write``).
    """

    company_currency: str = COMPANY_CURRENCY
    rates: Mapping[str, Decimal] = field(default_factory=dict)

    def code(self, deal: SeedDeal) -> str:
        codes = [self.company_currency, *sorted(self.rates)]
        return codes[deal.key % len(codes)]

    def home_amount(self, deal: SeedDeal) -> Decimal | None:
        if deal.amount is None:
            return None
        return self.in_home_currency(deal.amount, self.code(deal))

    def in_home_currency(self, amount: Decimal, code: str | None) -> Decimal:
        """``amount`` in ``code`` (None: the company currency) in the company currency."""
        if code is None or code == self.company_currency:
            return amount
        return amount * self.rates[code]


def currency_readers(currencies: PortalCurrencies) -> dict[str, Reader]:
    def home(deal: SeedDeal) -> str | None:
        amount = currencies.home_amount(deal)
        return None if amount is None else format_number(amount)

    return {"deal_currency_code": currencies.code, "amount_in_home_currency": home}


def use_currencies(store: HubSpotStore, currencies: PortalCurrencies) -> None:
    """Make ``store``'s portal multi-currency: seeded deal amounts read in their currencies."""
    for code, rate in currencies.rates.items():
        if rate <= 0:
            raise ValueError(f"the exchange rate of {code} must be > 0, got {rate}")
    with store.lock:
        store.deals.registry.add(
            currency_code_property(currencies.company_currency, currencies.rates)
        )
        store.deals.readers.update(currency_readers(currencies))
        store.currencies = currencies
        store.version += 1


def deal_readers(company_owner: Mapping[int, str], fallback_owner: int) -> dict[str, Reader]:
    """Property name -> how a seeded deal's value of it reads (its owner is its company's)."""
    fallback = str(fallback_owner)

    def owner(deal: SeedDeal) -> str:
        if deal.company_key is None:
            return fallback
        return company_owner.get(COMPANY_ID_BASE + deal.company_key, fallback)

    def close_date(deal: SeedDeal) -> str:
        day = deal.close_date
        return iso_millis(datetime(day.year, day.month, day.day, tzinfo=UTC))

    return {
        "dealname": lambda d: d.name,
        "amount": lambda d: None if d.amount is None else format_number(d.amount),
        "dealstage": lambda d: DEAL_STAGE_IDS[d.stage],
        "pipeline": lambda d: "default",
        "closedate": close_date,
        "dealtype": lambda d: DEAL_TYPE_VALUES[d.deal_type],
        "hubspot_owner_id": owner,
        "hs_is_closed": lambda d: "true" if d.is_closed else "false",
        "hs_is_closed_won": lambda d: "true" if d.is_won else "false",
        "hs_deal_stage_probability": lambda d: STAGE_PROBABILITY[DEAL_STAGE_IDS[d.stage]],
        **currency_readers(PortalCurrencies()),
    }
