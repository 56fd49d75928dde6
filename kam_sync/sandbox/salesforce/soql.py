"""A parser for the SOQL subset the sandbox serves.

Supported: `SELECT f1, Parent.Field, (SELECT f FROM ChildRelationship [WHERE ...]
[ORDER BY ...] [LIMIT n]), ... | COUNT() FROM Object [WHERE cond]
[ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]`, where a condition
combines comparisons (`= != <> < <= > >=`), `[NOT] IN (...)`, `LIKE`, `INCLUDES`/`EXCLUDES`
with AND/OR/NOT and parentheses. Values: strings, numbers, true/false, null, date and
datetime literals, and the date literals TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n,
NEXT_N_DAYS:n. As in SOQL, keywords are case-insensitive and AND and OR cannot be mixed at
one level without parentheses.

Errors are `SoqlError`s whose message follows Salesforce's `MALFORMED_QUERY` text
(`ERROR at Row:1:Column:N` and `unexpected token: X`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?::\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),.])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"'}
_ESCAPES["\\"] = "\\"
KEYWORDS = frozenset(
    {
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "INCLUDES", "EXCLUDES",
        "ORDER", "BY", "ASC", "DESC", "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "NULL",
        "TRUE", "FALSE", "GROUP", "HAVING",
    }
)  # fmt: skip
DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS"})


class SoqlError(Exception):
    """A query Salesforce would refuse; `code` is the REST `errorCode`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    column: int  # 1-based, as Salesforce reports it

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A field reference, `Name` or `Owner.Name`."""

    parts: tuple[str, ...]
    column: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Literal:
    """A value in a condition: kind is string/number/boolean/null/date/datetime/date_literal."""

    kind: str
    value: Any
    column: int


@dataclass(frozen=True, slots=True)
class Comparison:
    field: FieldPath
    op: str  # = != < <= > >= LIKE IN NOT IN INCLUDES EXCLUDES
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # AND / OR
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition


Condition = Comparison | BoolOp | Not


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: FieldPath
    descending: bool
    nulls_last: bool


@dataclass(slots=True)
class SoqlQuery:
    """A parsed query."""

    text: str
    fields: list[FieldPath]
    sobject: str
    sobject_column: int
    count_only: bool = False
    where: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    # Parent-to-child subqueries, `(SELECT f FROM ChildRelationship ...)`; in each, `sobject`
    # is the child relationship's name.
    subqueries: list[SoqlQuery] = field(default_factory=list)


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; raises `SoqlError` on a character SOQL does not know."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise malformed(text, position + 1, f"unexpected token: {text[position]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), position + 1))
        position = match.end()
    return tokens


def malformed(text: str, column: int, reason: str) -> SoqlError:
    """A MALFORMED_QUERY error pointing at a column, laid out like Salesforce's."""
    pointer = " " * (column - 1) + "^"
    return SoqlError(
        "MALFORMED_QUERY", f"\n{text}\n{pointer}\nERROR at Row:1:Column:{column}\n{reason}"
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    # -- token helpers --------------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token | None:
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.error(None)
        self.index += 1
        return token

    def error(self, token: Token | None, reason: str | None = None) -> SoqlError:
        if token is None:
            column = len(self.text) + 1
            return malformed(self.text, column, reason or "unexpected token: <EOF>")
        return malformed(self.text, token.column, reason or f"unexpected token: {token.text}")

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "ident" and token.upper in words

    def expect_keyword(self, word: str) -> Token:
        token = self.peek()
        if token is None or token.kind != "ident" or token.upper != word:
            raise self.error(token)
        return self.next()

    def expect_punct(self, char: str) -> Token:
        token = self.peek()
        if token is None or token.text != char:
            raise self.error(token)
        return self.next()

    # -- grammar --------------------------------------------------------------------------

    def parse(self) -> SoqlQuery:
        query = self.select(inner=False)
        if self.peek() is not None:
            raise self.error(self.peek())
        return query

    def select(self, *, inner: bool) -> SoqlQuery:
        self.expect_keyword("SELECT")
        fields: list[FieldPath] = []
        subqueries: list[SoqlQuery] = []
        count_only = False
        if self.at_keyword("COUNT") and (nxt := self.peek(1)) is not None and nxt.text == "(":
            self.next()
            self.expect_punct("(")
            closing = self.peek()
            if closing is None or closing.text != ")":
                raise self.error(
                    closing, "the sandbox supports COUNT() only, not aggregate functions"
                )
            self.next()
            count_only = True
        else:
            while True:
                token = self.peek()
                if token is not None and token.text == "(" and not inner:
                    self.next()
                    subqueries.append(self.select(inner=True))
                    self.expect_punct(")")
                else:
                    fields.append(self.field_path())
                if (token := self.peek()) is None or token.text != ",":
                    break
                self.next()
        self.expect_keyword("FROM")
        sobject_token = self.next()
        if sobject_token.kind != "ident" or sobject_token.upper in KEYWORDS:
            raise self.error(sobject_token)
        query = SoqlQuery(
            text=self.text,
            fields=fields,
            sobject=sobject_token.text,
            sobject_column=sobject_token.column,
            count_only=count_only,
            subqueries=subqueries,
        )
        if self.at_keyword("WHERE"):
            self.next()
            query.where = self.condition()
        if self.at_keyword("GROUP", "HAVING"):
            raise self.error(self.peek(), "the sandbox does not support GROUP BY or HAVING")
        if self.at_keyword("ORDER"):
            self.next()
            self.expect_keyword("BY")
            query.order_by.append(self.order_item())
            while (token := self.peek()) is not None and token.text == ",":
                self.next()
                query.order_by.append(self.order_item())
        if self.at_keyword("LIMIT"):
            self.next()
            query.limit = self.non_negative_int()
        if self.at_keyword("OFFSET") and not inner:
            self.next()
            query.offset = self.non_negative_int()
        return query

    def non_negative_int(self) -> int:
        token = self.next()
        if token.kind != "number" or not token.text.isdigit():
            raise self.error(token)
        return int(token.text)

    def field_path(self) -> FieldPath:
        token = self.next()
        if token.kind != "ident" or token.upper in KEYWORDS or ":" in token.text:
            raise self.error(token)
        parts = [token.text]
        while (dot := self.peek()) is not None and dot.text == ".":
            self.next()
            part = self.next()
            if part.kind != "ident":
                raise self.error(part)
            parts.append(part.text)
        return FieldPath(tuple(parts), token.column)

    def order_item(self) -> OrderItem:
        path = self.field_path()
        descending = False
        if self.at_keyword("ASC", "DESC"):
            descending = self.next().upper == "DESC"
        # SOQL: ascending sorts put nulls first, descending ones last, unless told.
        nulls_last = descending
        if self.at_keyword("NULLS"):
            self.next()
            token = self.next()
            if token.upper not in ("FIRST", "LAST"):
                raise self.error(token)
            nulls_last = token.upper == "LAST"
        return OrderItem(path, descending, nulls_last)

    def condition(self) -> Condition:
        first = self.unary()
        items = [first]
        operator: str | None = None
        while self.at_keyword("AND", "OR"):
            token = self.next()
            if operator is not None and token.upper != operator:
                # SOQL refuses `a AND b OR c`: mixing needs parentheses.
                raise self.error(token)
            operator = token.upper
            items.append(self.unary())
        if operator is None:
            return first
        return BoolOp(operator, tuple(items))

    def unary(self) -> Condition:
        if self.at_keyword("NOT"):
            self.next()
            return Not(self.unary())
        token = self.peek()
        if token is not None and token.text == "(":
            self.next()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        path = self.field_path()
        token = self.next()
        if token.kind == "op":
            op = "!=" if token.text == "<>" else token.text
            return Comparison(path, op, self.value())
        word = token.upper if token.kind == "ident" else ""
        if word == "NOT":
            self.expect_keyword("IN")
            return Comparison(path, "NOT IN", self.value_list())
        if word in ("IN", "INCLUDES", "EXCLUDES"):
            return Comparison(path, word, self.value_list())
        if word == "LIKE":
            value = self.value()
            if value.kind != "string":
                raise self.error(None, "LIKE needs a string value")
            return Comparison(path, "LIKE", value)
        raise self.error(token)

    def value_list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        values = [self.value()]
        while (token := self.peek()) is not None and token.text == ",":
            self.next()
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Literal:
        token = self.next()
        if token.kind == "string":
            return Literal("string", _unescape(token.text[1:-1]), token.column)
        if token.kind == "number":
            return Literal("number", Decimal(token.text), token.column)
        if token.kind == "date":
            return Literal("date", token.text, token.column)
        if token.kind == "datetime":
            return Literal("datetime", token.text, token.column)
        if token.kind == "ident":
            word = token.upper
            if word == "NULL":
                return Literal("null", None, token.column)
            if word in ("TRUE", "FALSE"):
                return Literal("boolean", word == "TRUE", token.column)
            name, _, count = word.partition(":")
            if name in DATE_LITERALS and (bool(count) == name.endswith("_N_DAYS")):
                return Literal("date_literal", (name, int(count or 0)), token.column)
        raise self.error(token)


def _unescape(body: str) -> str:
    out: list[str] = []
    chars = iter(body)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            out.append(_ESCAPES.get(escaped, "\\" + escaped))
        else:
            out.append(char)
    return "".join(out)


def parse_soql(text: str) -> SoqlQuery:
    """Parse one SOQL query of the supported subset; raises `SoqlError`."""
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "A query string must be provided")
    return _Parser(text).parse()
