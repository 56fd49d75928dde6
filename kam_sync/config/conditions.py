"""Conditions in mappings and rules: SQL boolean expressions over canonical columns.

Ops engineers write the WHERE-clause dialect they know from SOQL and SQL::

    won_amount_12m >= 250000 AND industry IN ('Banking', 'Insurance')

Every condition is checked once, when its file loads, in this order:

1. its syntax tree may use only the allow-list of ``condition_functions.py``, with bounded
   literal arguments (nothing that can allocate gigabytes per row, no clock, no subquery);
2. polars' SQL front end compiles it, and every name must be a known column;
3. it is evaluated over an empty frame of the real column types (a type error is found here)
   and over a frame of sample values, nulls included (a CAST of text that is not a number, or a
   ``strptime`` of text that is not a date, fails here instead of in the middle of a run).

It is evaluated column-wise over the whole portfolio, never with Python ``eval``. Should a value
the samples did not cover still make it fail during a run, ``condition_failure`` turns that into
a configuration error at the condition's file:line (exit 2), and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from kam_sync.config.condition_functions import DEFAULT_LIMITS, ConditionLimits, analyse
from kam_sync.config.condition_samples import sample_frame
from kam_sync.config.issues import ConfigIssue
from kam_sync.config.located import Loc, load_located
from kam_sync.config.suggest import did_you_mean
from kam_sync.errors import ConfigError

# What polars raises when an expression fails on data. A Rust panic reaches Python as a
# BaseException, so it is named here rather than caught with everything else.
EVALUATION_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
)
# While a file loads nothing is at stake: whatever a condition raises is reported against it.
_CHECK_ERRORS: tuple[type[BaseException], ...] = (Exception, pl.exceptions.PanicException)


class ConditionError(ValueError):
    """A condition that is refused: each of ``problems`` is one message fit for
    ``file:line:col: <message>``."""

    def __init__(self, problems: Sequence[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class CheckedCondition:
    """A condition that passed every check: its polars expression and the type it gives.

    ``can_fail`` names the functions in it that some value could still make fail (CAST, ...).
    """

    text: str
    expr: pl.Expr
    dtype: pl.DataType
    can_fail: tuple[str, ...]


class ConditionChecker:
    """Checks conditions over one set of columns; the empty and the sample frame are built once.

    ``allowed``: closed value sets of text (and list-of-text) columns, added to their samples.
    ``exact``: the only values a computed column can hold, used as its samples.
    """

    def __init__(
        self,
        columns: Mapping[str, pl.DataType],
        *,
        allowed: Mapping[str, Sequence[str]] | None = None,
        exact: Mapping[str, Sequence[object]] | None = None,
        limits: ConditionLimits = DEFAULT_LIMITS,
    ) -> None:
        self.columns = dict(columns)
        self.limits = limits
        self.empty = pl.DataFrame(schema=self.columns)
        self.samples = sample_frame(self.columns, allowed=allowed, exact=exact)

    def check(
        self, text: str, *, boolean: bool = True, what: str = "condition"
    ) -> CheckedCondition:
        """Check ``text``; raise ConditionError listing every problem found.

        ``boolean``: the result must be true/false (a condition), else any value (an expression).
        ``what`` names it in messages ("condition", "expression").
        """
        if not isinstance(text, str) or not text.strip():
            raise ConditionError(f"{what} must be a non-empty SQL expression")
        analysis = analyse(text, self.limits)
        if analysis.problems:
            raise ConditionError([_named(p, what) for p in analysis.problems])
        expr = parse(text, what)
        names = set(expr.meta.root_names())
        unknown = sorted(n for n in names if n not in self.columns)
        if unknown:
            first = unknown[0]
            hint = did_you_mean(first, self.columns)
            more = f" (and {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
            raise ConditionError(f"{what} names unknown column '{first}'{hint}{more}")
        try:
            dtype = self.empty.select(expr.alias("__condition__")).schema["__condition__"]
        except _CHECK_ERRORS as exc:
            raise ConditionError(
                f"{what} cannot be evaluated on these columns: {_first_line(exc)}"
            ) from None
        if boolean and dtype not in (pl.Boolean, pl.Null):
            raise ConditionError(
                f"{what} must be true or false, but it gives a value of type {dtype}"
            )
        try:
            self.samples.select(expr.alias("__condition__"))
        except _CHECK_ERRORS as exc:
            raise ConditionError(
                f"{what} fails on sample values (nulls, text that is not a number or a date, the "
                f"extremes of each type): {_first_line(exc)}{_hint(analysis.can_fail)}"
            ) from None
        return CheckedCondition(text, expr, dtype, tuple(analysis.can_fail))


def check_condition(
    text: str,
    columns: Mapping[str, pl.DataType],
    *,
    allowed: Mapping[str, Sequence[str]] | None = None,
    limits: ConditionLimits = DEFAULT_LIMITS,
) -> CheckedCondition:
    """Check one boolean condition over ``columns`` (record filters, rules); see the module doc."""
    return ConditionChecker(columns, allowed=allowed, limits=limits).check(text)


def compile_condition(text: str, schema: Mapping[str, pl.DataType] | None = None) -> pl.Expr:
    """The polars expression of a condition; with ``schema``, every check of ``check_condition``.

    Without ``schema`` the allow-list is still enforced (a condition that already passed its
    checks when the files loaded, compiled again where it runs).
    """
    if schema is not None:
        return check_condition(text, schema).expr
    problems = analyse(text).problems if isinstance(text, str) else []
    if problems:
        raise ConditionError(problems)
    return parse(text, "condition")


def parse(text: str, what: str = "condition") -> pl.Expr:
    """polars' expression for ``text``; ConditionError when it does not parse."""
    try:
        return pl.sql_expr(text)
    except _CHECK_ERRORS as exc:  # polars raises several SQL error types; all mean "does not parse"
        raise ConditionError(f"{what} does not parse as SQL: {_first_line(exc)}") from None


def condition_failure(
    issue_at: ConfigIssue, can_fail: Sequence[str], exc: BaseException, *, scope: str
) -> ConfigIssue:
    """The issue for a condition that failed on a run's data, at the condition's place.

    polars' own message is left out: it quotes the values that failed, which are CRM data.
    """
    message = (
        f"condition failed on the CRM data of this run ({type(exc).__name__}) while "
        f"{scope}{_hint(list(can_fail))}; nothing was written: make the condition hold for "
        "every value its columns can take, then run again"
    )
    return ConfigIssue(issue_at.file, issue_at.line, issue_at.col, message)


def filter_records(
    frame: pl.DataFrame, text: str, *, source: Path, where: Loc, scope: str
) -> pl.DataFrame:
    """The rows of ``frame`` for which the record filter ``text`` holds (null counts as false).

    ``source`` and ``where`` say where the filter is written, for the error when a value makes it
    fail: a ConfigError at that file:line (exit 2), never polars' traceback.
    """
    expr = compile_condition(text)
    try:
        return frame.filter(expr.fill_null(False))
    except EVALUATION_ERRORS as exc:
        doc, _ = load_located(source)
        place = (
            doc.issue(where, "", prefer_key=True)
            if doc is not None
            else ConfigIssue(source, None, None, "")
        )
        raise ConfigError(
            [condition_failure(place, analyse(text).can_fail, exc, scope=scope)]
        ) from None


def _hint(can_fail: Sequence[str]) -> str:
    hints = []
    if "CAST" in can_fail:
        hints.append("CAST fails on a value that does not convert; TRY_CAST gives NULL instead")
    if "STRPTIME" in can_fail:
        hints.append(
            "STRPTIME fails on text that is not a date in that format; map the CRM field as a "
            "date in the mapping file instead"
        )
    if "SUBSTR" in can_fail:
        hints.append("SUBSTR fails on a negative length")
    return "".join(f" ({h})" for h in hints)


def _named(problem: str, what: str) -> str:
    return problem.replace("condition", what, 1) if what != "condition" else problem


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
