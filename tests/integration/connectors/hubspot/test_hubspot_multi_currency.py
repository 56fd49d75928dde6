"""Money in one currency: on a multi-currency portal the metrics use each deal's amount in the
company currency (``amount_in_home_currency``), so the KAM results equal those of a
single-currency twin whose deal amounts were converted by hand."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from kam_sync.sandbox.hubspot.properties import format_number
from kam_sync.sandbox.hubspot.seed_values import PortalCurrencies, use_currencies
from kam_sync.sandbox.portfolio import SeedDeal
from tests.e2e.crm import CrmHands, kam_sync_cli, sandbox_project

RATES = {"EUR": Decimal("1.085"), "GBP": Decimal("1.2675")}  # USD per unit


def _by_hand(deal: SeedDeal) -> str | None:
    """The twin's amount: every third deal is USD, then EUR, then GBP, converted by hand."""
    if deal.amount is None:
        return None
    code = ("USD", "EUR", "GBP")[deal.key % 3]
    return format_number(deal.amount if code == "USD" else deal.amount * RATES[code])


def _kam_results(tmp_path: Path, name: str, multi_currency: bool) -> dict[str, dict[str, object]]:
    project = tmp_path / name / "project"
    with sandbox_project("hubspot", project, accounts=60, seed=5) as (handle, env):
        store = handle.app.store
        if multi_currency:
            use_currencies(store, PortalCurrencies("USD", RATES))
            codes = {
                store.deals.value(r, "deal_currency_code") for r in store.deals.records.values()
            }
            assert codes == {"USD", "EUR", "GBP"}
        else:
            # A single-currency portal where the deals were entered in USD already.
            store.deals.readers["amount"] = _by_hand
            store.deals.readers["amount_in_home_currency"] = _by_hand
        for step in (("provision",), ("run", "--json")):
            done = kam_sync_cli(*step, "--project", str(project), env=env, cwd=project.parent)
            assert done.returncode in (0, 3), done.stderr
        summary = json.loads(done.stdout)
        assert summary["accounts_written"] > 0
        return CrmHands.connect("hubspot", handle).kam_values()


@pytest.mark.slow
def test_multi_currency_metrics_equal_a_hand_converted_single_currency_twin(
    tmp_path: Path,
) -> None:
    multi = _kam_results(tmp_path, "multi", multi_currency=True)
    twin = _kam_results(tmp_path, "twin", multi_currency=False)
    assert multi == twin
    assert any(v["kam_score"] not in (None, "0") for v in multi.values())


def test_a_deals_home_amount_is_its_amount_times_its_currencys_rate() -> None:
    with_rates = PortalCurrencies("USD", RATES)
    deal = SeedDeal(
        key=4,  # 4 % 3 == 1: EUR
        company_key=1,
        name="d",
        amount=Decimal("1000.00"),
        stage="closed_won",
        is_closed=True,
        is_won=True,
        probability=1,
        deal_type="renewal",
        close_date=None,  # type: ignore[arg-type]
        created_at=None,  # type: ignore[arg-type]
    )
    assert with_rates.code(deal) == "EUR"
    assert with_rates.home_amount(deal) == Decimal("1085.00000")
    assert PortalCurrencies().home_amount(deal) == Decimal("1000.00")
    with pytest.raises(ValueError, match="must be > 0"):
        use_currencies(None, PortalCurrencies("USD", {"EUR": Decimal(0)}))  # type: ignore[arg-type]


def test_a_deal_currency_the_account_does_not_have_is_refused() -> None:
    from kam_sync.sandbox.hubspot.properties import InvalidValue
    from kam_sync.sandbox.hubspot.store import HubSpotStore
    from kam_sync.sandbox.portfolio import generate_portfolio

    store = HubSpotStore(generate_portfolio(3, seed=1))
    registry = store.deals.registry
    assert registry.normalize("deal_currency_code", "USD") == "USD"
    assert isinstance(registry.normalize("deal_currency_code", "EUR"), InvalidValue)
    use_currencies(store, PortalCurrencies("USD", RATES))
    assert store.deals.registry.normalize("deal_currency_code", "EUR") == "EUR"
    assert isinstance(store.deals.registry.normalize("deal_currency_code", "BRL"), InvalidValue)
