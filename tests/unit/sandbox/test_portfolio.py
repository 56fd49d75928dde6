from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kam_sync.sandbox.portfolio import (
    CHECKLIST_QUESTION_IDS,
    DEAL_STAGES,
    DEAL_TYPES,
    DEFAULT_AS_OF,
    LOGO_ATTRACTIVENESS,
    RELATIONSHIP_STRENGTHS,
    STRATEGIC_FITS,
    TEAM_ROLES,
    TIERS,
    Portfolio,
    generate_portfolio,
)


@pytest.fixture(scope="module")
def portfolio() -> Portfolio:
    return generate_portfolio(3000, seed=7)


def test_same_seed_gives_the_same_portfolio() -> None:
    assert generate_portfolio(300, seed=3) == generate_portfolio(300, seed=3)


def test_another_seed_gives_another_portfolio() -> None:
    first = generate_portfolio(300, seed=3)
    second = generate_portfolio(300, seed=4)
    assert [c.name for c in first.companies] != [c.name for c in second.companies]


def test_default_clock_is_fixed_so_tests_are_stable() -> None:
    assert generate_portfolio(5, seed=1).as_of == DEFAULT_AS_OF == datetime(2026, 11, 1, tzinfo=UTC)


def test_check_list_has_the_57_questions_of_the_contract() -> None:
    assert len(CHECKLIST_QUESTION_IDS) == 57
    assert "needs_08" in CHECKLIST_QUESTION_IDS
    assert "unknowns_07" not in CHECKLIST_QUESTION_IDS


def test_requested_number_of_accounts_with_about_five_deals_each(portfolio: Portfolio) -> None:
    assert len(portfolio.companies) == 3000
    assert [c.key for c in portfolio.companies] == list(range(1, 3001))
    assert 4.0 < len(portfolio.deals) / 3000 < 6.0
    assert len({d.key for d in portfolio.deals}) == len(portfolio.deals)


def test_revenue_is_concentrated_in_a_few_large_accounts(portfolio: Portfolio) -> None:
    revenues = sorted(
        (c.annual_revenue for c in portfolio.companies if c.annual_revenue), reverse=True
    )
    top_fifth = sum(revenues[: len(revenues) // 5], Decimal(0))
    assert top_fifth / sum(revenues, Decimal(0)) > Decimal("0.6")


def test_accounts_span_several_industries_and_countries(portfolio: Portfolio) -> None:
    assert len({c.industry for c in portfolio.companies if c.industry}) >= 8
    assert len({c.country for c in portfolio.companies if c.country}) >= 10


def test_subsidiaries_belong_to_an_earlier_group_head_in_another_country(
    portfolio: Portfolio,
) -> None:
    by_key = {c.key: c for c in portfolio.companies}
    subsidiaries = [c for c in portfolio.companies if c.parent_key is not None]
    assert len(subsidiaries) > 300
    for company in subsidiaries:
        assert company.parent_key is not None
        parent = by_key[company.parent_key]
        assert parent.key < company.key
        assert parent.parent_key is None
        if parent.country is not None:
            assert company.country != parent.country


def test_deals_cover_three_years_of_won_lost_and_open_business(portfolio: Portfolio) -> None:
    stages = Counter(d.stage for d in portfolio.deals)
    assert set(stages) == set(DEAL_STAGES)
    assert set(Counter(d.deal_type for d in portfolio.deals)) == set(DEAL_TYPES)
    close_dates = [d.close_date for d in portfolio.deals]
    assert (max(close_dates) - min(close_dates)).days > 3 * 365
    for deal in portfolio.deals:
        assert deal.is_closed == (deal.stage in ("closed_won", "closed_lost"))
        assert deal.is_won == (deal.stage == "closed_won")
        assert 0 <= deal.probability <= 100
        assert deal.created_at <= portfolio.as_of
        assert deal.created_at.tzinfo is not None
        assert deal.amount is None or deal.amount > 0


def test_a_companys_first_deal_is_new_business(portfolio: Portfolio) -> None:
    first_seen: dict[int, str] = {}
    for deal in portfolio.deals:
        if deal.company_key is not None:
            first_seen.setdefault(deal.company_key, deal.deal_type)
    # Orphaning detaches a few first deals, so allow a handful of exceptions.
    not_new = [kind for kind in first_seen.values() if kind != "new_business"]
    assert len(not_new) < len(first_seen) * 0.01


def test_about_thirty_percent_of_accounts_carry_valid_kam_inputs(portfolio: Portfolio) -> None:
    with_inputs = [c.kam for c in portfolio.companies if c.kam is not None]
    assert 0.25 < len(with_inputs) / len(portfolio.companies) < 0.35
    questions = set(CHECKLIST_QUESTION_IDS)
    for kam in with_inputs:
        assert kam.tier_override in (None, *TIERS)
        assert kam.relationship_strength in (None, *RELATIONSHIP_STRENGTHS)
        assert kam.logo_attractiveness in (None, *LOGO_ATTRACTIVENESS)
        assert kam.strategic_fit in (None, *STRATEGIC_FITS)
        assert set(kam.team_roles) <= set(TEAM_ROLES)
        assert set(kam.checklist_answers) <= questions
        assert not set(kam.checklist_answers) & set(kam.checklist_not_applicable)


def test_team_members_hold_the_roles_recorded_on_their_account(portfolio: Portfolio) -> None:
    by_key = {c.key: c for c in portfolio.companies}
    user_keys = {u.key for u in portfolio.users}
    assert portfolio.team_members
    for member in portfolio.team_members:
        kam = by_key[member.company_key].kam
        assert kam is not None
        assert member.role in kam.team_roles
        assert member.user_key in user_keys


def test_dirty_records_exist_as_in_a_real_crm(portfolio: Portfolio) -> None:
    company_keys = {c.key for c in portfolio.companies}
    orphans = [d for d in portfolio.deals if d.company_key not in company_keys]
    assert orphans
    assert any(d.company_key is None for d in orphans)
    assert any(d.amount is None for d in portfolio.deals)
    assert any(
        c.name == "" or (c.employees is not None and c.employees < 0) or c.annual_revenue is None
        for c in portfolio.companies
    )


def test_every_company_has_an_existing_owner(portfolio: Portfolio) -> None:
    user_keys = {u.key for u in portfolio.users}
    assert {c.owner_key for c in portfolio.companies} <= user_keys


def test_empty_portfolio_is_allowed() -> None:
    empty = generate_portfolio(0, seed=1)
    assert empty.companies == [] and empty.deals == []


def test_a_portfolio_has_about_five_deals_per_account() -> None:
    # How fast 100,000 accounts generate is a figure `bench/bench_sandbox.py` prints (a timed
    # test fails on a loaded machine and proves nothing on an idle one).
    portfolio = generate_portfolio(2_000, seed=1)
    assert len(portfolio.deals) > 4.5 * 2_000


def test_a_naive_as_of_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_portfolio(5, seed=1, as_of=datetime(2026, 1, 1))


def test_as_of_moves_the_whole_history_with_it() -> None:
    later = datetime(2027, 6, 1, tzinfo=UTC)
    moved = generate_portfolio(50, seed=1, as_of=later)
    assert moved.as_of == later
    assert max(d.created_at for d in moved.deals) <= later
    close_dates = [d.close_date for d in moved.deals]
    assert min(close_dates) >= (later - timedelta(days=3 * 365)).date()
    assert max(close_dates) <= (later + timedelta(days=180)).date()
