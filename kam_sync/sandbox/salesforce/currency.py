"""A multi-currency org: `CurrencyIsoCode` on records and the `CurrencyType` rates.

With multiple currencies enabled, every record with currency fields has `CurrencyIsoCode`, and
its currency fields (`Amount`) are in that currency; `CurrencyType` holds one row per active
currency with `ConversionRate` against the corporate currency (`IsCorporate`, rate 1)
(Salesforce Help, "Manage Multiple Currencies"; Object Reference, "CurrencyType"). A sandbox is
single-currency until a test calls `enable_multi_currency`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

from kam_sync.sandbox.salesforce.schema import FieldDef, ObjectSchema
from kam_sync.sandbox.salesforce.store import SalesforceStore

CURRENCY_OBJECTS = ("Account", "Opportunity")


def _currency_type_schema() -> ObjectSchema:
    schema = ObjectSchema("CurrencyType", "Currency", "Currencies")
    for field_def in (
        FieldDef("Id", "Currency ID", "id", length=18, updateable=False, createable=False,
                 nillable=False),
        FieldDef("IsoCode", "Currency ISO Code", "picklist", nillable=False),
        FieldDef("ConversionRate", "Conversion Rate", "double", precision=18, scale=6),
        FieldDef("DecimalPlaces", "Decimal Places", "int", digits=9),
        FieldDef("IsActive", "Active", "boolean", nillable=False, default_value=True),
        FieldDef("IsCorporate", "Corporate Currency", "boolean", nillable=False,
                 default_value=False),
        FieldDef("IsDeleted", "Deleted", "boolean", updateable=False, createable=False,
                 nillable=False, default_value=False),
        FieldDef("SystemModstamp", "System Modstamp", "datetime", updateable=False,
                 createable=False, nillable=False),
    ):  # fmt: skip
        schema.add(field_def)
    return schema


def enable_multi_currency(
    store: SalesforceStore, *, corporate: str, rates: Mapping[str, Decimal]
) -> None:
    """Turn on multiple currencies: every existing record is in ``corporate``; ``rates`` are
    the other active currencies, as units per one unit of the corporate currency."""
    codes = (corporate, *sorted(c for c in rates if c != corporate))
    with store.lock:
        schema = _currency_type_schema()
        store.schema.objects["currencytype"] = schema
        store.tables.setdefault("currencytype", {})
        for code in codes:
            record_id = store.new_id("CurrencyType")
            store.put_seed(
                "CurrencyType",
                {
                    "Id": record_id,
                    "IsoCode": code,
                    "ConversionRate": Decimal(1) if code == corporate else Decimal(rates[code]),
                    "DecimalPlaces": 2,
                    "IsActive": True,
                    "IsCorporate": code == corporate,
                    "IsDeleted": False,
                    "SystemModstamp": store.clock(),
                },
            )
        iso = FieldDef("CurrencyIsoCode", "Currency ISO Code", "picklist", picklist=codes,
                       restricted=True, nillable=False)  # fmt: skip
        for name in CURRENCY_OBJECTS:
            store.schema.add_field(name, iso)
            for record in store.tables[name.lower()].values():
                record["CurrencyIsoCode"] = corporate
            store.bump(name.lower())


def set_currency(store: SalesforceStore, sobject: str, record_id: str, code: str) -> None:
    """Put a record in another currency, converting its currency fields at the org's rate."""
    rates = {r["IsoCode"]: r["ConversionRate"] for r in store.records("CurrencyType")}
    schema = store.schema.get(sobject)
    record = store.get(sobject, record_id)
    assert schema is not None and record is not None
    with store.lock:
        old = rates[record["CurrencyIsoCode"]]
        for field_def in schema.fields.values():
            value = record.get(field_def.name)
            if field_def.type == "currency" and value is not None:
                converted = Decimal(value) / old * rates[code]
                record[field_def.name] = converted.quantize(Decimal(1).scaleb(-field_def.scale))
        record["CurrencyIsoCode"] = code
        store.bump(sobject.lower())


def _dated_schema() -> ObjectSchema:
    schema = ObjectSchema("DatedConversionRate", "Dated Exchange Rate", "Dated Exchange Rates")
    for field_def in (
        FieldDef("Id", "Dated Exchange Rate ID", "id", length=18, updateable=False,
                 createable=False, nillable=False),
        FieldDef("IsoCode", "Currency ISO Code", "picklist", nillable=False),
        FieldDef("ConversionRate", "Conversion Rate", "double", precision=18, scale=6),
        FieldDef("StartDate", "Start Date", "date", nillable=False),
        FieldDef("NextStartDate", "Next Start Date", "date"),
        FieldDef("IsDeleted", "Deleted", "boolean", updateable=False, createable=False,
                 nillable=False, default_value=False),
        FieldDef("SystemModstamp", "System Modstamp", "datetime", updateable=False,
                 createable=False, nillable=False),
    ):  # fmt: skip
        schema.add(field_def)
    return schema


def enable_dated_rates(
    store: SalesforceStore, periods: Sequence[tuple[str, dt.date, dt.date | None, Decimal]]
) -> None:
    """Turn on advanced currency management with (currency, start, next start, rate) periods:
    opportunity amounts then convert at the rate of the period of their close date (Salesforce
    Help, "Edit Dated Exchange Rates"). The object does not exist before (INVALID_TYPE)."""
    with store.lock:
        store.schema.objects["datedconversionrate"] = _dated_schema()
        store.tables.setdefault("datedconversionrate", {})
        for code, start, next_start, rate in periods:
            store.put_seed(
                "DatedConversionRate",
                {
                    "Id": store.new_id("DatedConversionRate"),
                    "IsoCode": code,
                    "ConversionRate": Decimal(rate),
                    "StartDate": start,
                    "NextStartDate": next_start,
                    "IsDeleted": False,
                    "SystemModstamp": store.clock(),
                },
            )
