"""The backtest's defaults, apart from the backtest (polars, the rules engine), so that the
command line can show them without loading either."""

from __future__ import annotations

DEFAULT_HORIZON_MONTHS = 12
DEFAULT_LARGEST_SHARE = 0.10  # "the accounts that turned out largest": the top tenth by revenue
