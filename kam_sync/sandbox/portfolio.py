"""Seeded, CRM-neutral key-account portfolio used by both sandbox CRMs.

The generator is deterministic by ``(accounts, seed, as_of)``. Values use kam-sync's
own words (see the domain contract); each CRM side translates them to its labels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

DEFAULT_AS_OF = datetime(2026, 11, 1, tzinfo=UTC)

TIERS = ("strategic", "key", "emerging", "watchlist", "none")
RELATIONSHIP_STRENGTHS = ("weak", "moderate", "strong", "strategic_partner")
LOGO_ATTRACTIVENESS = ("low", "medium", "high", "flagship")
STRATEGIC_FITS = ("low", "medium", "high")
TEAM_ROLES = (
    "technical_expert",
    "relationship_manager",
    "collaborator",
    "project_leader",
    "innovator",
    "results_driver",
)
CHECKLIST_CATEGORY_SIZES = {
    "our_team": 7,
    "account_team": 7,
    "trends": 7,
    "needs": 8,
    "account_info": 8,
    "competitors": 6,
    "value": 8,
    "unknowns": 6,
}
CHECKLIST_QUESTION_IDS = tuple(
    f"{category}_{number:02d}"
    for category, size in CHECKLIST_CATEGORY_SIZES.items()
    for number in range(1, size + 1)
)

# CRM-neutral vocabularies of the seed; each CRM side maps them to its own picklist labels.
ACCOUNT_TYPES = ("customer_direct", "customer_channel", "prospect", "partner", "other")
OPEN_DEAL_STAGES = ("prospecting", "qualification", "needs_analysis", "proposal", "negotiation")
DEAL_STAGES = (*OPEN_DEAL_STAGES, "closed_won", "closed_lost")
DEAL_TYPES = ("new_business", "renewal", "expansion")
# Salesforce's default stage probabilities, in percent.
STAGE_PROBABILITY = {
    "prospecting": 10,
    "qualification": 20,
    "needs_analysis": 30,
    "proposal": 60,
    "negotiation": 80,
    "closed_won": 100,
    "closed_lost": 0,
}

INDUSTRIES = (
    "Manufacturing",
    "Retail",
    "Financial Services",
    "Healthcare",
    "Technology",
    "Energy",
    "Logistics",
    "Telecommunications",
    "Pharmaceuticals",
    "Automotive",
    "Food & Beverage",
    "Public Sector",
)
# (country, legal form, top-level domain)
COUNTRIES = (
    ("United States", "Inc.", "com"),
    ("United Kingdom", "Ltd", "co.uk"),
    ("Germany", "GmbH", "de"),
    ("France", "SAS", "fr"),
    ("Netherlands", "B.V.", "nl"),
    ("Spain", "S.L.", "es"),
    ("Italy", "S.p.A.", "it"),
    ("Sweden", "AB", "se"),
    ("Switzerland", "AG", "ch"),
    ("Canada", "Inc.", "ca"),
    ("Japan", "K.K.", "jp"),
    ("Australia", "Pty Ltd", "com.au"),
    ("Brazil", "Ltda", "com.br"),
    ("India", "Pvt Ltd", "in"),
)
# Most accounts sit in a few home markets, as in a real book of business.
COUNTRY_WEIGHTS = (30, 12, 14, 8, 5, 4, 4, 3, 3, 5, 4, 3, 2, 3)
NAME_FIRST = (
    "Nord", "Sun", "Blue", "Iron", "Silver", "Green", "Alpine", "Atlas", "Delta", "Vertex",
    "Orion", "Summit", "Harbor", "Crest", "Pioneer", "Falcon", "Granite", "Aurora", "Nova",
    "Meridian", "Cobalt", "Evergreen", "Redwood", "Quantum", "Beacon", "Polar", "Horizon",
    "Keystone", "Lumen", "Sterling",
)  # fmt: skip
NAME_SECOND = (
    "wind", "field", "stone", "bridge", "gate", "line", "works", "point", "path", "wave",
    "forge", "light", "mark", "star", "core", "peak", "vale", "port", "ridge", "way",
)  # fmt: skip
NAME_TRADE = (
    "Logistics", "Systems", "Industries", "Foods", "Energy", "Health", "Labs", "Retail",
    "Capital", "Motors", "Networks", "Pharma", "Materials", "Solutions", "Group",
)  # fmt: skip
PERSON_FIRST = (
    "Anna", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
    "Keiko", "Liam", "Maya", "Noah", "Olga", "Priya", "Rafael", "Sofia", "Tom", "Yara",
)  # fmt: skip
PERSON_LAST = (
    "Adler", "Brooks", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ito",
    "Jensen", "Kumar", "Lopez", "Meyer", "Novak", "Olsen", "Petrov", "Rossi", "Schmidt",
    "Tanaka", "Weber",
)  # fmt: skip
COMPETITORS = (
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark Industries",
)

KAM_INPUT_SHARE = 0.30
SUBSIDIARY_SHARE = 0.18
MEAN_DEALS_PER_ACCOUNT = 5.0
DIRTY_SHARE = 0.004
DEAL_HISTORY = timedelta(days=3 * 365)


@dataclass(slots=True)
class SeedUser:
    key: int
    name: str
    email: str


@dataclass(slots=True)
class SeedKamInputs:
    tier_override: str | None
    relationship_strength: str | None
    logo_attractiveness: str | None
    strategic_fit: str | None
    public_company: bool | None
    executive_sponsor: str | None
    competitors: list[str]
    contacts_engaged: int | None
    checklist_answers: list[str]
    checklist_not_applicable: list[str]
    account_plan_started: date | None
    last_review_date: date | None
    team_roles: list[str]


@dataclass(slots=True)
class SeedCompany:
    key: int
    name: str
    parent_key: int | None
    industry: str | None
    country: str | None
    employees: int | None
    annual_revenue: Decimal | None
    account_type: str | None
    owner_key: int
    domain: str | None
    created_at: datetime
    kam: SeedKamInputs | None


@dataclass(slots=True)
class SeedDeal:
    key: int
    company_key: int | None  # None, or a key with no company: an orphan (dirty data)
    name: str
    amount: Decimal | None
    stage: str  # one of DEAL_STAGES
    is_closed: bool
    is_won: bool
    probability: int  # 0..100
    deal_type: str  # one of DEAL_TYPES
    close_date: date
    created_at: datetime


@dataclass(slots=True)
class SeedTeamMember:
    company_key: int
    user_key: int
    role: str  # one of TEAM_ROLES


@dataclass(slots=True)
class Portfolio:
    as_of: datetime
    users: list[SeedUser]
    companies: list[SeedCompany]
    deals: list[SeedDeal]
    team_members: list[SeedTeamMember]


def generate_portfolio(accounts: int, seed: int, as_of: datetime | None = None) -> Portfolio:
    """Generate ``accounts`` companies with about five deals each, deterministically."""
    if accounts < 0:
        raise ValueError(f"accounts must be >= 0, got {accounts}")
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (kam-sync keeps datetimes in UTC)")
    clock = DEFAULT_AS_OF if as_of is None else as_of.astimezone(UTC)
    rng = random.Random(f"kam-sync-portfolio:{seed}")
    users = _users(rng, accounts)
    companies = _companies(rng, accounts, len(users), clock)
    deals = _deals(rng, companies, clock)
    team_members = _team_members(rng, companies, len(users))
    return Portfolio(
        as_of=clock, users=users, companies=companies, deals=deals, team_members=team_members
    )


def _users(rng: random.Random, accounts: int) -> list[SeedUser]:
    # About one account owner per 40 accounts, as in a field sales team.
    count = min(max(5, accounts // 40), 2500)
    users = []
    for key in range(1, count + 1):
        first = rng.choice(PERSON_FIRST)
        last = rng.choice(PERSON_LAST)
        email = f"{first.lower()}.{last.lower()}{key}@example.com"
        users.append(SeedUser(key=key, name=f"{first} {last}", email=email))
    return users


def _companies(
    rng: random.Random, accounts: int, user_count: int, as_of: datetime
) -> list[SeedCompany]:
    companies: list[SeedCompany] = []
    group_heads: list[SeedCompany] = []
    country_indexes = range(len(COUNTRIES))
    countries_drawn = rng.choices(country_indexes, weights=COUNTRY_WEIGHTS, k=accounts)
    for key in range(1, accounts + 1):
        parent: SeedCompany | None = None
        if group_heads and rng.random() < SUBSIDIARY_SHARE:
            parent = group_heads[int(rng.random() ** 2 * len(group_heads))]
        country_index = countries_drawn[key - 1]
        if parent is not None:
            # Subsidiaries sit in another country than their group's head.
            country_index = (COUNTRIES.index(_country_row(parent)) + rng.randint(1, 5)) % len(
                COUNTRIES
            )
        country, legal_form, tld = COUNTRIES[country_index]
        if parent is None:
            core = f"{rng.choice(NAME_FIRST)}{rng.choice(NAME_SECOND)} {rng.choice(NAME_TRADE)}"
            industry: str | None = rng.choice(INDUSTRIES)
        else:
            core = f"{_core_name(parent)} {country}"
            industry = parent.industry
        # Pareto-like revenue: most accounts are small, a few carry the book.
        revenue_units = min(rng.paretovariate(1.1), 20_000.0)
        revenue = Decimal(int(revenue_units * 2_000_000))
        employees = max(1, int(float(revenue) / rng.uniform(150_000, 400_000)))
        created_at = as_of - timedelta(days=rng.randint(30, 8 * 365), seconds=rng.randint(0, 86399))
        slug = "".join(ch for ch in core.lower() if ch.isalnum())
        company = SeedCompany(
            key=key,
            name=f"{core} {legal_form}",
            parent_key=None if parent is None else parent.key,
            industry=industry,
            country=country,
            employees=employees,
            annual_revenue=revenue,
            account_type=rng.choices(ACCOUNT_TYPES, weights=(60, 15, 15, 7, 3))[0],
            owner_key=rng.randint(1, user_count),
            domain=f"{slug}.{tld}",
            created_at=created_at,
            kam=_kam_inputs(rng, as_of) if rng.random() < KAM_INPUT_SHARE else None,
        )
        if rng.random() < DIRTY_SHARE:
            _make_dirty(rng, company)
        companies.append(company)
        if parent is None and rng.random() < 0.12:
            group_heads.append(company)
    return companies


def _country_row(company: SeedCompany) -> tuple[str, str, str]:
    for row in COUNTRIES:
        if row[0] == company.country:
            return row
    return COUNTRIES[0]


def _core_name(company: SeedCompany) -> str:
    """A group's name without its legal form, e.g. ``Nordwind Logistics``."""
    words = company.name.split(" ")
    return " ".join(words[:2]) if len(words) >= 2 else company.name or "Unnamed"


def _make_dirty(rng: random.Random, company: SeedCompany) -> None:
    """Damage one field the way hand-kept CRM data gets damaged."""
    kind = rng.randrange(5)
    if kind == 0:
        company.name = ""
    elif kind == 1:
        company.employees = -rng.randint(1, 50)
    elif kind == 2:
        company.annual_revenue = None
        company.employees = None
    elif kind == 3:
        company.industry = None
        company.country = None
        company.domain = None
    else:
        company.account_type = None
        company.annual_revenue = Decimal(0)


def _kam_inputs(rng: random.Random, as_of: datetime) -> SeedKamInputs:
    answered_count = rng.randint(0, len(CHECKLIST_QUESTION_IDS))
    extra = min(rng.randint(0, 4), len(CHECKLIST_QUESTION_IDS) - answered_count)
    questions = rng.sample(CHECKLIST_QUESTION_IDS, k=answered_count + extra)
    answers = sorted(questions[:answered_count])
    not_applicable = sorted(questions[answered_count:])
    plan_started = (
        (as_of - timedelta(days=rng.randint(10, 900))).date() if rng.random() < 0.6 else None
    )
    last_review = (
        (as_of - timedelta(days=rng.randint(1, 500))).date() if rng.random() < 0.5 else None
    )
    return SeedKamInputs(
        tier_override=rng.choice(TIERS) if rng.random() < 0.08 else None,
        relationship_strength=_maybe(rng, RELATIONSHIP_STRENGTHS, 0.8),
        logo_attractiveness=_maybe(rng, LOGO_ATTRACTIVENESS, 0.7),
        strategic_fit=_maybe(rng, STRATEGIC_FITS, 0.7),
        public_company=rng.random() < 0.3 if rng.random() < 0.9 else None,
        executive_sponsor=(
            f"{rng.choice(PERSON_FIRST)} {rng.choice(PERSON_LAST)}" if rng.random() < 0.5 else None
        ),
        competitors=rng.sample(COMPETITORS, k=rng.randint(0, 3)),
        contacts_engaged=rng.randint(0, 40) if rng.random() < 0.8 else None,
        checklist_answers=answers,
        checklist_not_applicable=not_applicable,
        account_plan_started=plan_started,
        last_review_date=last_review,
        team_roles=sorted(rng.sample(TEAM_ROLES, k=rng.randint(0, 4))),
    )


def _maybe(rng: random.Random, values: tuple[str, ...], filled_share: float) -> str | None:
    return rng.choice(values) if rng.random() < filled_share else None


def _deals(rng: random.Random, companies: list[SeedCompany], as_of: datetime) -> list[SeedDeal]:
    deals: list[SeedDeal] = []
    history_days = DEAL_HISTORY.days
    as_of_date = as_of.date()
    expovariate = rng.expovariate
    randint = rng.randint
    random_ = rng.random
    rate = 1.0 / MEAN_DEALS_PER_ACCOUNT
    key = 0
    for company in companies:
        count = min(int(expovariate(rate) + 0.5), 40)
        revenue = float(company.annual_revenue) if company.annual_revenue else 1_000_000.0
        offsets = sorted(randint(-history_days, 180) for _ in range(count))
        for index, offset in enumerate(offsets):
            key += 1
            close_date = as_of_date + timedelta(days=offset)
            if index == 0:
                deal_type = "new_business"
            else:
                roll = random_()
                deal_type = (
                    "renewal" if roll < 0.45 else "expansion" if roll < 0.8 else "new_business"
                )
            # Deals closing more than a month ago are settled; a few stay open past their date.
            if offset < -30 and random_() < 0.97:
                stage = "closed_won" if random_() < 0.55 else "closed_lost"
            else:
                stage = OPEN_DEAL_STAGES[randint(0, 4)]
            amount: Decimal | None = Decimal(
                int(revenue * (0.002 + random_() * 0.02) * 100) + 100_000
            ).scaleb(-2)
            if random_() < 0.01:
                amount = None
            created_at = datetime(
                close_date.year, close_date.month, close_date.day, tzinfo=UTC
            ) - timedelta(days=randint(14, 240), seconds=randint(0, 86399))
            created_at = min(created_at, as_of - timedelta(seconds=randint(60, 86399)))
            is_closed = stage in ("closed_won", "closed_lost")
            deals.append(
                SeedDeal(
                    key=key,
                    company_key=company.key,
                    name=f"{company.name or 'Unnamed'} - {deal_type.replace('_', ' ').title()}"
                    f" {close_date.year}",
                    amount=amount,
                    stage=stage,
                    is_closed=is_closed,
                    is_won=stage == "closed_won",
                    probability=STAGE_PROBABILITY[stage],
                    deal_type=deal_type,
                    close_date=close_date,
                    created_at=created_at,
                )
            )
    _add_orphans(rng, deals, len(companies))
    return deals


def _add_orphans(rng: random.Random, deals: list[SeedDeal], company_count: int) -> None:
    """Detach a few deals from any company: no company, or one that does not exist."""
    orphan_count = max(1, len(deals) // 500) if deals else 0
    for deal in rng.sample(deals, k=min(orphan_count, len(deals))):
        deal.company_key = None if rng.random() < 0.5 else company_count + 1 + rng.randint(0, 999)


def _team_members(
    rng: random.Random, companies: list[SeedCompany], user_count: int
) -> list[SeedTeamMember]:
    members: list[SeedTeamMember] = []
    for company in companies:
        if company.kam is None or not company.kam.team_roles:
            continue
        for role in company.kam.team_roles:
            members.append(
                SeedTeamMember(
                    company_key=company.key, user_key=rng.randint(1, user_count), role=role
                )
            )
    return members
