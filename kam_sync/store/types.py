"""Column types that keep the store's promises: UTC datetimes and exact money."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

from kam_sync.canonical import MONEY_DIGITS, MONEY_SCALE

CENT = Decimal(1).scaleb(-MONEY_SCALE)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                "naive datetime given to the store; kam-sync keeps UTC-aware datetimes"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Exact Decimal amounts of up to ``MONEY_DIGITS`` digits, kept to the cent.

    PostgreSQL holds them as NUMERIC. SQLite has no exact decimal type (a NUMERIC column turns
    text like "999999999999999999.00" into a float), so there they are canonical decimal text.
    Nothing sums money in SQL: the rules engine sums it as polars Decimals.
    """

    impl = Numeric(MONEY_DIGITS, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(MONEY_DIGITS, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | str | None:
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        try:
            # The default context holds 28 digits: every amount normalizing lets through.
            exact = amount.quantize(CENT, rounding=ROUND_HALF_EVEN)
        except InvalidOperation:
            with localcontext(prec=MONEY_DIGITS + 2):
                exact = amount.quantize(CENT, rounding=ROUND_HALF_EVEN)
        exact = exact if exact else abs(exact)  # one zero, never "-0.00"
        return f"{exact:f}" if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        with localcontext(prec=MONEY_DIGITS + 2):
            return Decimal(str(value)).quantize(CENT)


class JSONText(TypeDecorator[Any]):
    """JSON in a text column, the same on SQLite and PostgreSQL; Decimals kept as strings."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, default=_default, sort_keys=True, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")
