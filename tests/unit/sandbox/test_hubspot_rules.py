"""The HubSpot sandbox's rules without HTTP: rate windows, value checks, search planning."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kam_sync.sandbox.hubspot.properties import (
    InvalidValue,
    PropertyDefinition,
    PropertyOption,
    normalize_value,
)
from kam_sync.sandbox.hubspot.ratelimit import RateLimiter
from kam_sync.sandbox.hubspot.search import SearchCache, plan_search, run_search
from kam_sync.sandbox.hubspot.store import HubSpotStore
from kam_sync.sandbox.portfolio import generate_portfolio
from kam_sync.sandbox.server import HttpError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ten_second_window_rolls_so_old_requests_free_their_slots() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock)
    for _ in range(100):
        assert limiter.admit().allowed
        clock.now += 0.05
    refused = limiter.admit()
    assert not refused.allowed and refused.policy_name == "TEN_SECONDLY_ROLLING"
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    clock.now = 1000.0 + 10.01  # the first request has left the window
    assert limiter.admit().allowed


def test_daily_allocation_follows_the_tier_and_refuses_with_policy_daily() -> None:
    assert RateLimiter(100).daily_limit == 250_000
    assert RateLimiter(190).daily_limit == 625_000
    assert RateLimiter(250).daily_limit == 1_000_000
    limiter = RateLimiter(190, clock=FakeClock())
    limiter.set_daily_remaining(1)
    assert limiter.admit().headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    refused = limiter.admit()
    assert refused.policy_name == "DAILY"
    assert refused.body()["message"] == "You have reached your daily limit."


def test_search_window_is_separate_and_per_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock)
    assert all(limiter.admit(search=True).allowed for _ in range(5))
    assert limiter.admit(search=True).policy_name == "SECONDLY"
    assert limiter.admit().allowed
    clock.now += 1.01
    assert limiter.admit(search=True).allowed


def enumeration(field_type: str) -> PropertyDefinition:
    return PropertyDefinition(
        name="kam_flags",
        label="Flags",
        type="enumeration",
        field_type=field_type,
        group_name="kam",
        options=[
            PropertyOption("Over Cap", "over_cap"),
            PropertyOption("Review Due", "review_due"),
        ],
    )


@pytest.mark.parametrize(
    ("definition", "raw", "stored"),
    [
        (enumeration("checkbox"), "over_cap;review_due", "over_cap;review_due"),
        (enumeration("select"), "review_due", "review_due"),
        (enumeration("select"), "", None),
        (PropertyDefinition("n", "N", "number", "number", "g"), 42.50, "42.5"),
        (PropertyDefinition("n", "N", "number", "number", "g"), "1E+3", "1000"),
        (PropertyDefinition("b", "B", "bool", "booleancheckbox", "g"), True, "true"),
        (PropertyDefinition("d", "D", "date", "date", "g"), "1735689600000", "2025-01-01"),
        (PropertyDefinition("d", "D", "date", "date", "g"), "2025-01-01", "2025-01-01"),
        (
            PropertyDefinition("t", "T", "datetime", "date", "g"),
            "2025-01-01T10:00:00+02:00",
            "2025-01-01T08:00:00.000Z",
        ),
    ],
)
def test_values_are_stored_in_hubspots_string_forms(
    definition: PropertyDefinition, raw: object, stored: str | None
) -> None:
    assert normalize_value(definition, raw) == stored


@pytest.mark.parametrize(
    ("definition", "raw", "error"),
    [
        (enumeration("checkbox"), "over_cap;gold", "INVALID_OPTION"),
        (enumeration("select"), "over_cap;review_due", "INVALID_OPTION"),
        (PropertyDefinition("n", "N", "number", "number", "g"), "12abc", "INVALID_DECIMAL"),
        (PropertyDefinition("b", "B", "bool", "booleancheckbox", "g"), "yes", "INVALID_BOOLEAN"),
        (PropertyDefinition("d", "D", "date", "date", "g"), "1735693200000", "INVALID_DATE"),
        (
            PropertyDefinition("s", "S", "string", "text", "g"),
            "x" * 65_537,
            "INVALID_STRING_LENGTH",
        ),
    ],
)
def test_values_hubspot_would_refuse_are_refused_with_its_error_code(
    definition: PropertyDefinition, raw: object, error: str
) -> None:
    result = normalize_value(definition, raw)
    assert isinstance(result, InvalidValue) and result.error == error


def test_writing_a_read_only_property_is_refused() -> None:
    store = HubSpotStore(generate_portfolio(3, seed=1))
    result = store.companies.registry.normalize("hs_lastmodifieddate", "2020-01-01")
    assert isinstance(result, InvalidValue) and result.error == "READ_ONLY_VALUE"


def test_every_write_moves_hs_lastmodifieddate_forward_even_within_one_millisecond() -> None:
    frozen = datetime(2026, 11, 20, tzinfo=UTC)
    store = HubSpotStore(generate_portfolio(3, seed=1), clock=lambda: frozen)
    company = store.company_id(1)
    stamps = []
    for fit in ("low", "medium", "high"):
        store.set_values("companies", company, {"kam_strategic_fit": fit})
        record = store.companies.live(int(company))
        stamps.append(store.companies.value(record, "hs_lastmodifieddate"))
    assert stamps == sorted(set(stamps)) and len(stamps) == 3


def test_search_between_and_in_filters_combine_with_and_inside_a_group() -> None:
    store = HubSpotStore(generate_portfolio(200, seed=4))
    plan = plan_search(
        store.deals,
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "amount",
                            "operator": "BETWEEN",
                            "value": "10000",
                            "highValue": "90000",
                        },
                        {
                            "propertyName": "dealtype",
                            "operator": "IN",
                            "values": ["renewal", "existingbusiness"],
                        },
                    ]
                }
            ],
            "limit": 200,
        },
    )
    total, page, _ = run_search(store.deals, plan)
    assert total > 0
    for record in page:
        assert 10000 <= float(store.deals.value(record, "amount") or 0) <= 90000
        assert store.deals.value(record, "dealtype") in ("renewal", "existingbusiness")


def test_search_refuses_paging_at_the_10000th_result() -> None:
    store = HubSpotStore(generate_portfolio(3, seed=1))
    with pytest.raises(HttpError) as caught:
        plan_search(store.companies, {"after": "10000"})
    assert caught.value.response.status == 400


def test_changes_replay_onto_a_fresh_store_for_data_files() -> None:
    portfolio = generate_portfolio(20, seed=9)
    first = HubSpotStore(portfolio)
    first.set_values("companies", first.company_id(3), {"kam_strategic_fit": "high"})
    first.archive("deals", first.deal_id(2))
    new_id = first.create("companies", {"name": "Brand New Ltd"})
    first.associate_deal(first.deal_id(1), new_id)
    second = HubSpotStore(portfolio)
    second.apply_changes(first.changes())
    record = second.companies.live(int(first.company_id(3)))
    assert second.companies.value(record, "kam_strategic_fit") == "high"
    with pytest.raises(LookupError):
        second.deals.live(int(first.deal_id(2)))
    assert second.companies.value(second.companies.live(int(new_id)), "name") == "Brand New Ltd"
    assert second.deal_company[int(first.deal_id(1))] == int(new_id)


def test_merges_and_user_defined_labels_replay_onto_a_fresh_store() -> None:
    portfolio = generate_portfolio(20, seed=9)
    first = HubSpotStore(portfolio)
    survivor, merged = int(first.company_id(4)), int(first.company_id(5))
    first.merge("companies", survivor, merged)
    first.label_association("deals", first.deal_id(1), "companies", survivor, type_id=5, label="X")
    second = HubSpotStore(portfolio)
    second.apply_changes(first.changes())
    assert merged not in second.companies.records
    value = second.companies.value(second.companies.live(survivor), "hs_merged_object_ids")
    assert value == str(merged)
    assert second.user_labels == first.user_labels


def test_a_purged_company_leaves_no_trace_and_stays_gone_after_a_replay() -> None:
    portfolio = generate_portfolio(20, seed=9)
    first = HubSpotStore(portfolio)
    gone = int(first.company_id(6))
    deals = list(first.company_deals.get(gone, []))
    first.archive("companies", gone)  # archived first, then past the 90-day window
    first.purge("companies", gone)
    assert gone not in first.companies.records
    assert gone not in list(first.companies.ids)
    assert all(first.deal_company.get(d) != gone for d in deals)
    assert gone not in first.company_deals
    second = HubSpotStore(portfolio)
    second.apply_changes(first.changes())
    assert gone not in second.companies.records
    with pytest.raises(LookupError):
        first.purge("companies", gone)


def test_cached_search_results_are_dropped_once_the_store_changes() -> None:
    store = HubSpotStore(generate_portfolio(50, seed=4))
    cache = SearchCache()
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "kam_strategic_fit", "operator": "EQ", "value": "high"}]}
        ]
    }
    plan = plan_search(store.companies, body)
    before, _, _ = run_search(store.companies, plan, cache=cache, version=store.version)
    target = next(
        r
        for r in store.companies.iter_from(None, archived=False)
        if store.companies.value(r, "kam_strategic_fit") != "high"
    )
    store.set_values("companies", target.id, {"kam_strategic_fit": "high"})
    after, _, _ = run_search(store.companies, plan, cache=cache, version=store.version)
    assert after == before + 1


def test_records_with_equal_modstamps_come_in_id_order_in_either_sort_direction() -> None:
    frozen = datetime(2026, 11, 20, tzinfo=UTC)
    store = HubSpotStore(generate_portfolio(10, seed=2), clock=lambda: frozen)
    for key in (3, 1, 2):
        store.set_values("companies", store.company_id(key), {"kam_strategic_fit": "low"})
    expected = [int(store.company_id(k)) for k in (1, 2, 3)]
    for direction in ("ASCENDING", "DESCENDING"):
        plan = plan_search(
            store.companies,
            {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "hs_lastmodifieddate",
                                "operator": "GTE",
                                "value": "2026-11-20T00:00:00Z",
                            }
                        ]
                    }
                ],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": direction}],
            },
        )
        total, page, _ = run_search(store.companies, plan)
        assert total == 3
        assert [r.id for r in page] == expected
