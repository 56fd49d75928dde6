"""What a condition may call: one allow-list of SQL functions and operators, with bounded arguments.

A condition is parsed with sqlglot (PostgreSQL dialect, the closest to polars' SQL front end) and
its syntax tree walked before polars ever sees it. Every node must be a plain value (a column, a
literal, parentheses) or belong to an entry of ``CONDITION_FUNCTIONS``; anything else (an
aggregate, a window, a subquery, the clock, a function missing from the table) is refused with
its name and the list of what is allowed. Functions whose cost grows with an argument take that
argument as a literal within a named bound, so no condition can allocate gigabytes per row.

The table is the reference for the README's "Conditions" section: keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError


@dataclass(frozen=True, slots=True)
class ConditionLimits:
    """Bounds on what one condition may ask for.

    ``max_length`` follows Salesforce formula fields, which are limited to 3,900 characters
    ("Formula Field Limits and Restrictions", Salesforce Help); ``max_pad_length`` is the longest
    Salesforce Text field (255 characters), the longest code a padding could need to match;
    patterns are bounded likewise. Decimals beyond 15 mean nothing in a float64.
    """

    max_length: int = 3900
    max_pad_length: int = 255
    max_pattern_length: int = 255
    max_round_decimals: int = 15


DEFAULT_LIMITS: Final = ConditionLimits()


@dataclass(frozen=True, slots=True)
class LiteralBound:
    """An argument that must be a literal: an integer within ``[low, <limit>]``, or text no
    longer than ``<limit>`` characters. ``limit`` names a field of ``ConditionLimits``."""

    kind: str  # "int" | "text"
    limit: str
    what: str  # the argument, in messages
    low: int = 0


@dataclass(frozen=True, slots=True)
class SqlFunction:
    """One entry of the allow-list: how it is written, what it is for, and its bounds."""

    names: tuple[str, ...]  # as written in a condition; operators in their SQL spelling
    group: str
    nodes: tuple[type[exp.Expression], ...]  # sqlglot's nodes for it
    bounds: dict[str, LiteralBound] = field(default_factory=dict)  # sqlglot argument -> bound
    can_fail: bool = False  # some values make it fail: checked over samples and on each run
    is_function: bool = True  # written NAME(...) (listed in refusals) rather than as syntax


_PATTERN = LiteralBound("text", "max_pattern_length", "pattern")

# The allow-list. Everything a condition can do is here; nothing else is accepted.
CONDITION_FUNCTIONS: Final[tuple[SqlFunction, ...]] = (
    SqlFunction(("=", "<>", "!=", "<", "<=", ">", ">="), "comparison",
                (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE), is_function=False),
    SqlFunction(("IS [NOT] DISTINCT FROM",), "comparison", (exp.NullSafeEQ, exp.NullSafeNEQ),
                is_function=False),
    SqlFunction(("AND", "OR", "NOT"), "boolean logic", (exp.And, exp.Or, exp.Not),
                is_function=False),
    SqlFunction(("IS [NOT] NULL", "IS [NOT] TRUE", "IS [NOT] FALSE"), "nulls", (exp.Is,),
                is_function=False),
    SqlFunction(("COALESCE", "IFNULL"), "nulls", (exp.Coalesce,)),
    SqlFunction(("NULLIF",), "nulls", (exp.Nullif,)),
    SqlFunction(("[NOT] IN (list)",), "sets", (exp.In,), is_function=False),
    SqlFunction(("[NOT] BETWEEN",), "sets", (exp.Between,), is_function=False),
    SqlFunction(("value = ANY(list)",), "lists", (exp.Any,), is_function=False),
    SqlFunction(("ARRAY_CONTAINS",), "lists", (exp.ArrayContains,)),
    SqlFunction(("ARRAY_LENGTH",), "lists", (exp.ArraySize,)),
    SqlFunction(("[NOT] LIKE", "[NOT] ILIKE"), "text patterns", (exp.Like, exp.ILike),
                bounds={"expression": _PATTERN}, is_function=False),
    SqlFunction(("~", "~*", "!~", "REGEXP_LIKE"), "text patterns",
                (exp.RegexpLike, exp.RegexpILike), bounds={"expression": _PATTERN}),
    SqlFunction(("CASE WHEN ... THEN ... ELSE ... END", "IF"), "conditional",
                (exp.Case, exp.If)),
    SqlFunction(("GREATEST",), "conditional", (exp.Greatest,)),
    SqlFunction(("LEAST",), "conditional", (exp.Least,)),
    SqlFunction(("+", "-", "*", "/", "%"), "arithmetic",
                (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg), is_function=False),
    SqlFunction(("MOD",), "arithmetic", (exp.Mod,)),
    SqlFunction(("ABS",), "math", (exp.Abs,)),
    SqlFunction(("CEIL", "CEILING"), "math", (exp.Ceil,)),
    SqlFunction(("FLOOR",), "math", (exp.Floor,)),
    SqlFunction(("ROUND",), "math", (exp.Round,),
                bounds={"decimals": LiteralBound("int", "max_round_decimals", "decimals")}),
    SqlFunction(("SIGN",), "math", (exp.Sign,)),
    SqlFunction(("SQRT",), "math", (exp.Sqrt,)),
    SqlFunction(("POWER", "POW"), "math", (exp.Pow,)),
    SqlFunction(("LN",), "math", (exp.Ln,)),
    SqlFunction(("LOG10",), "math", (exp.Log,)),
    SqlFunction(("LOWER",), "text", (exp.Lower,)),
    SqlFunction(("UPPER",), "text", (exp.Upper,)),
    SqlFunction(("LENGTH", "CHAR_LENGTH"), "text", (exp.Length,)),
    SqlFunction(("TRIM", "LTRIM", "RTRIM"), "text", (exp.Trim,)),
    SqlFunction(("SUBSTR", "SUBSTRING"), "text", (exp.Substring,), can_fail=True),
    SqlFunction(("LEFT",), "text", (exp.Left,)),
    SqlFunction(("RIGHT",), "text", (exp.Right,)),
    SqlFunction(("STARTS_WITH",), "text", (exp.StartsWith,)),
    SqlFunction(("ENDS_WITH",), "text", (exp.EndsWith,)),
    SqlFunction(("STRPOS",), "text", (exp.StrPosition,)),
    SqlFunction(("||",), "text", (exp.DPipe,), is_function=False),
    SqlFunction(("CONCAT",), "text", (exp.Concat,)),
    SqlFunction(("LPAD", "RPAD"), "text", (exp.Pad,),
                bounds={"expression": LiteralBound("int", "max_pad_length", "length"),
                        "fill_pattern": LiteralBound("text", "max_pad_length", "fill text")}),
    SqlFunction(("EXTRACT(part FROM date)", "DATE_PART"), "dates", (exp.Extract,)),
    SqlFunction(("INTERVAL 'n unit'",), "dates", (exp.Interval,), is_function=False),
    SqlFunction(("STRPTIME",), "dates", (), can_fail=True),  # sqlglot: an anonymous function
    SqlFunction(("CAST", "::", "DATE 'yyyy-mm-dd'"), "types", (exp.Cast,), can_fail=True),
    SqlFunction(("TRY_CAST",), "types", (exp.TryCast,)),
)  # fmt: skip

# Types a CAST may name (sqlglot's names): numbers, text, dates and true/false.
CAST_TYPES: Final = frozenset(
    {"TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL", "TEXT", "VARCHAR",
     "CHAR", "DATE", "BOOLEAN"}
)  # fmt: skip

# The parts of a tree that are plain values or the shape of an allowed node, not calls.
_STRUCTURE: Final = (exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Paren,
                     exp.DataType, exp.DataTypeParam, exp.Var)  # fmt: skip

# Names of things people try that sqlglot knows as nodes, for the refusal message.
_REFUSED_NAMES: Final[dict[type[exp.Expression], str]] = {
    exp.Select: "a subquery (SELECT)",
    exp.Subquery: "a subquery (SELECT)",
    exp.Window: "a window (OVER)",
    exp.Star: "*",
    exp.Placeholder: "a parameter placeholder (? or :name; write the value itself)",
    exp.Block: "more than one statement",
    exp.CurrentDate: "CURRENT_DATE (the clock: use the days_since_* columns)",
    exp.CurrentTimestamp: "NOW / CURRENT_TIMESTAMP (the clock: use the days_since_* columns)",
    exp.CurrentTime: "CURRENT_TIME (the clock: use the days_since_* columns)",
}

_BY_NODE: Final[dict[type[exp.Expression], SqlFunction]] = {
    node: entry for entry in CONDITION_FUNCTIONS for node in entry.nodes
}
_BY_ANONYMOUS_NAME: Final[dict[str, SqlFunction]] = {
    name: entry for entry in CONDITION_FUNCTIONS if not entry.nodes for name in entry.names
}


def allowed_function_names() -> list[str]:
    """The functions a condition may call (``NAME(...)``), sorted, for messages."""
    return sorted(
        {n for e in CONDITION_FUNCTIONS if e.is_function for n in e.names if n.isidentifier()}
    )


@dataclass(slots=True)
class Analysis:
    """What the walk found: problems (refusals), and the names of functions that can fail."""

    problems: list[str] = field(default_factory=list)
    can_fail: list[str] = field(default_factory=list)


def analyse(text: str, limits: ConditionLimits = DEFAULT_LIMITS) -> Analysis:
    """Parse ``text`` and check every node against the allow-list and its bounds."""
    found = Analysis()
    if len(text) > limits.max_length:
        found.problems.append(
            f"condition is {len(text)} characters long; at most {limits.max_length} are allowed"
        )
        return found
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except (ParseError, TokenError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        found.problems.append(f"condition does not parse as SQL: {detail}")
        return found
    except RecursionError:
        found.problems.append("condition is nested too deeply")
        return found
    refused: list[str] = []
    # sqlglot's walk is iterative: a deeply nested tree cannot exhaust the stack here.
    for node in tree.walk():
        problem = _check_node(cast(exp.Expression, node), limits, found)
        if problem is not None and problem not in refused:
            refused.append(problem)
    if refused:
        functions = [r for r in refused if r.isidentifier()]
        others = [r for r in refused if not r.isidentifier()]
        if functions:
            listed = ", ".join(functions)
            found.problems.append(
                f"condition calls {listed}, which {'is' if len(functions) == 1 else 'are'} not "
                f"allowed; conditions may call {', '.join(allowed_function_names())} and use "
                "comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, IS NULL, CASE, CAST and arithmetic"
            )
        found.problems += others
    return found


def _check_node(node: exp.Expression, limits: ConditionLimits, found: Analysis) -> str | None:
    """None when ``node`` is allowed; else the name of what is refused, or a sentence."""
    if isinstance(node, exp.Column):
        if node.table:
            return f"'{node.sql()}' names a table; conditions name columns only"
        return None
    if isinstance(node, _STRUCTURE):
        return None
    if isinstance(node, exp.Anonymous):
        name = str(node.this).upper()
        entry = _BY_ANONYMOUS_NAME.get(name)
        if entry is None:
            return name
        if entry.can_fail:
            found.can_fail.append(name)
        return None
    entry = _BY_NODE.get(type(node))
    if entry is None:
        if type(node) in _REFUSED_NAMES:
            return f"{_REFUSED_NAMES[type(node)]} is not allowed in a condition"
        if isinstance(node, exp.Func):
            return node.sql_name()
        return f"{type(node).__name__} is not allowed in a condition"
    if isinstance(node, exp.In) and (node.args.get("query") or node.args.get("unnest")):
        return "a subquery (SELECT) is not allowed in a condition"
    if isinstance(node, exp.Cast | exp.TryCast):
        target = node.to.this.name if isinstance(node.to, exp.DataType) else str(node.to)
        if target not in CAST_TYPES:
            return (
                f"CAST to {target} is not allowed; cast to one of {', '.join(sorted(CAST_TYPES))}"
            )
    if entry.can_fail:
        name = entry.names[0]
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
            pass  # a typed literal (DATE '2024-01-31') is checked once, when the file loads
        elif name not in found.can_fail:
            found.can_fail.append(name)
    for arg, bound in entry.bounds.items():
        value = node.args.get(arg)
        if value is None:
            continue
        problem = _bound_problem(_display_name(node, entry), value, bound, limits)
        if problem is not None:
            return problem
    return None


def _display_name(node: exp.Expression, entry: SqlFunction) -> str:
    if isinstance(node, exp.Pad):
        return "LPAD" if node.args.get("is_left") else "RPAD"
    shown: dict[type[exp.Expression], str] = {exp.Like: "LIKE", exp.ILike: "ILIKE", exp.RegexpLike: "the regular expression",
             exp.RegexpILike: "the regular expression"}  # fmt: skip
    return shown.get(type(node), entry.names[0])


def _bound_problem(
    name: str, value: exp.Expression, bound: LiteralBound, limits: ConditionLimits
) -> str | None:
    high = getattr(limits, bound.limit)
    what = bound.what
    if bound.kind == "int":
        literal = _int_literal(value)
        if literal is None:
            return (
                f"{name} needs its {what} as a whole number from {bound.low} to {high}, written out"
            )
        if not bound.low <= literal <= high:
            return (
                f"{name} {what} {literal} is out of bounds: from {bound.low} to {high} "
                f"(limit {bound.limit})"
            )
        return None
    if not (isinstance(value, exp.Literal) and value.is_string):
        return f"{name} needs its {what} as a text literal ('...')"
    if len(value.this) > high:
        return (
            f"{name} {what} is {len(value.this)} characters long; at most {high} are allowed "
            f"(limit {bound.limit})"
        )
    return None


def _int_literal(value: exp.Expression) -> int | None:
    negative = False
    if isinstance(value, exp.Neg):
        negative, value = True, value.this
    if isinstance(value, exp.Literal) and not value.is_string:
        try:
            number = int(value.this)
        except ValueError:
            return None
        return -number if negative else number
    return None
