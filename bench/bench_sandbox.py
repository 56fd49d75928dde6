"""How fast the sandbox CRM is, so that benchmarks of kam-sync measure kam-sync, not it.

    .venv/bin/python bench/bench_sandbox.py [--accounts 100000] [--repeats 20] [--crm both]

Figures, with `--accounts` accounts (and about five times as many deals) loaded:
- seed: generating the portfolio, and loading it into each CRM side;
- HubSpot: one 100-record list page (`GET /crm/v3/objects/companies?limit=100`), one
  100-record `batch/update`, and a 200-record search page over every deal by modstamp
  (the first page evaluates the filter over all deals; later pages of the same query are
  served from the sandbox's result cache), over HTTP with a keep-alive session;
- Salesforce: one 2,000-record SOQL query page and one 200-record `composite/sobjects`
  PATCH.
Each request figure is the median (and the worst) of `--repeats` runs, after one warm-up.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import requests

from kam_sync.sandbox.hubspot.app import HubSpotApp
from kam_sync.sandbox.portfolio import Portfolio, generate_portfolio
from kam_sync.sandbox.runner import running_sandbox
from kam_sync.sandbox.server import SandboxServer


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median and worst wall time of `call` in milliseconds, after one warm-up call."""
    call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def report(crm: str, what: str, median: float, worst: float) -> None:
    print(f"{crm:<11} {what + ':':<36} median {median:6.1f} ms   worst {worst:6.1f} ms")


def check(response: requests.Response, expected: int) -> requests.Response:
    if response.status_code != expected:
        request = f"{response.request.method} {response.url}"
        raise SystemExit(f"{request}: {response.status_code} {response.text[:300]}")
    return response


def bench_hubspot(portfolio: Portfolio, repeats: int) -> None:
    started = time.perf_counter()
    # Rate limits are raised so the benchmark measures serving, not the 10-second window.
    app = HubSpotApp(portfolio, rate_limit_tier=100_000, search_per_second=100_000)
    print(
        f"hubspot     load {len(portfolio.companies):,} companies + {len(portfolio.deals):,} deals: "
        f"{time.perf_counter() - started:6.2f} s"
    )
    # The seed lives as long as the server: freezing it keeps the cyclic collector from
    # walking ~600,000 records in the middle of a request (worst case 85 ms -> 15 ms).
    gc.collect()
    gc.freeze()
    server = SandboxServer(app)
    app.bind(stats=server.stats, faults=server.faults)
    server.start()
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {app.access_token}"
        base = server.base_url
        middle = app.store.company_id(len(portfolio.companies) // 2)
        properties = (
            "name,domain,industry,annualrevenue,numberofemployees,kam_tier_override,kam_team_roles"
        )

        def list_page() -> None:
            body = check(
                session.get(
                    f"{base}/crm/v3/objects/companies",
                    params={"limit": 100, "after": middle, "properties": properties},
                ),
                200,
            ).json()
            assert len(body["results"]) == 100

        ids = [app.store.company_id(k) for k in range(1000, 1100)]
        flip = [0]

        def batch_update() -> None:
            flip[0] += 1
            fit = ("low", "medium", "high")[flip[0] % 3]
            inputs = [
                {
                    "id": i,
                    "properties": {"kam_strategic_fit": fit, "kam_contacts_engaged": flip[0]},
                    "objectWriteTraceId": i,
                }
                for i in ids
            ]
            body = check(
                session.post(
                    f"{base}/crm/v3/objects/companies/batch/update", json={"inputs": inputs}
                ),
                200,
            ).json()
            assert len(body["results"]) == 100

        median, worst = timed(list_page, repeats)
        report("hubspot", "list page, 100 companies", median, worst)
        median, worst = timed(batch_update, repeats)
        report("hubspot", "batch/update, 100 companies", median, worst)

        # An incremental pull's search: every deal modified since a watermark, by modstamp.
        search = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"}
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["dealname", "amount", "dealstage"],
            "limit": 200,
        }
        watermark = [0]

        def search_first_page() -> None:
            # A new watermark each time, so the sandbox's result cache cannot answer.
            watermark[0] += 1
            search["filterGroups"][0]["filters"][0]["value"] = str(watermark[0])  # type: ignore[index]
            body = check(session.post(f"{base}/crm/v3/objects/deals/search", json=search), 200)
            assert len(body.json()["results"]) == 200

        def search_next_page() -> None:
            body = check(
                session.post(
                    f"{base}/crm/v3/objects/deals/search", json={**search, "after": "200"}
                ),
                200,
            )
            assert len(body.json()["results"]) == 200

        median, worst = timed(search_first_page, max(3, repeats // 4))
        report("hubspot", f"search, {len(portfolio.deals):,} deals, page 1", median, worst)
        median, worst = timed(search_next_page, repeats)
        report("hubspot", "search, same query, next page", median, worst)
    finally:
        server.stop()
        gc.unfreeze()


def bench_salesforce(accounts: int, seed: int, repeats: int) -> None:
    started = time.perf_counter()
    with running_sandbox("salesforce", accounts=accounts, seed=seed) as handle:
        print(
            f"salesforce  start with {accounts:,} accounts (seed + load + TLS): "
            f"{time.perf_counter() - started:6.2f} s"
        )
        creds = handle.credentials
        # Trusts the sandbox's CA even when REQUESTS_CA_BUNDLE points elsewhere.
        session = handle.requests_session()
        token = check(
            session.post(
                f"{handle.base_url}/services/oauth2/token",
                data={
                    "grant_type": "password",
                    "client_id": creds["client_id"],
                    "client_secret": creds["client_secret"],
                    "username": creds["username"],
                    "password": creds["password"] + creds.get("security_token", ""),
                },
            ),
            200,
        ).json()
        instance = token.get("instance_url") or handle.base_url
        session.headers["Authorization"] = f"Bearer {token['access_token']}"
        version = "v59.0"
        soql = (
            "SELECT Id, Name, Industry, AnnualRevenue, NumberOfEmployees, BillingCountry, "
            "OwnerId, Owner.Name, KAM_Tier_Override__c FROM Account"
        )

        def query_page() -> None:
            body = check(
                session.get(
                    f"{instance}/services/data/{version}/query",
                    params={"q": soql},
                    headers={"Sforce-Query-Options": "batchSize=2000"},
                ),
                200,
            ).json()
            assert len(body["records"]) == 2000, len(body["records"])

        ids = [
            r["Id"]
            for r in check(
                session.get(
                    f"{instance}/services/data/{version}/query",
                    params={"q": "SELECT Id FROM Account LIMIT 200"},
                ),
                200,
            ).json()["records"]
        ]
        flip = [0]

        def collection_update() -> None:
            flip[0] += 1
            fit = ("Low", "Medium", "High")[flip[0] % 3]
            records = [
                {"attributes": {"type": "Account"}, "id": i, "KAM_Strategic_Fit__c": fit}
                for i in ids
            ]
            body = check(
                session.patch(
                    f"{instance}/services/data/{version}/composite/sobjects",
                    json={"allOrNone": False, "records": records},
                ),
                200,
            ).json()
            assert all(r["success"] for r in body), body[:3]

        median, worst = timed(query_page, repeats)
        report("salesforce", "query page, 2,000 accounts", median, worst)
        median, worst = timed(collection_update, repeats)
        report("salesforce", "composite PATCH, 200 records", median, worst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--crm", choices=("both", "hubspot", "salesforce"), default="both")
    args = parser.parse_args()
    started = time.perf_counter()
    portfolio = generate_portfolio(args.accounts, args.seed)
    counts = f"{len(portfolio.companies):,} accounts + {len(portfolio.deals):,} deals"
    print(f"seed        generate {counts}: {time.perf_counter() - started:6.2f} s")
    if args.crm in ("both", "hubspot"):
        bench_hubspot(portfolio, args.repeats)
    del portfolio
    if args.crm in ("both", "salesforce"):
        bench_salesforce(args.accounts, args.seed, args.repeats)


if __name__ == "__main__":
    main()
