"""Conditions are checked before they run: the allow-list, its bounds, types and sample values."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from kam_sync.canonical import ACCOUNT_SCHEMA, ENUMERATIONS
from kam_sync.config import condition_samples
from kam_sync.config.condition_functions import (
    CONDITION_FUNCTIONS,
    ConditionLimits,
    allowed_function_names,
    analyse,
)
from kam_sync.config.conditions import (
    ConditionChecker,
    ConditionError,
    check_condition,
    filter_records,
)
from kam_sync.errors import ConfigError
from kam_sync.rules.columns import METRICS_SCHEMA

COLUMNS = {**ACCOUNT_SCHEMA, **METRICS_SCHEMA}

# One condition per entry of the allow-list: each must pass every check and run in polars.
EXAMPLES: dict[str, str] = {
    "=": "employees = 10 AND name <> 'x' AND employees != 3 AND employees < 5 "
    "AND employees <= 5 AND employees > 1 AND employees >= 1",
    "IS [NOT] DISTINCT FROM": "(industry IS NOT DISTINCT FROM 'Banking') "
    "OR (industry IS DISTINCT FROM country)",
    "AND": "NOT public_company AND (employees > 1 OR employees IS NULL)",
    "IS [NOT] NULL": "industry IS NOT NULL AND public_company IS TRUE",
    "COALESCE": "COALESCE(employees, 0) > 0 OR IFNULL(contacts_engaged, 0) > 2",
    "NULLIF": "NULLIF(industry, '') IS NULL",
    "[NOT] IN (list)": "industry NOT IN ('Banking', 'Insurance')",
    "[NOT] BETWEEN": "employees BETWEEN 10 AND 500",
    "value = ANY(list)": "'technical_expert' = ANY(team_roles)",
    "ARRAY_CONTAINS": "ARRAY_CONTAINS(team_roles, 'innovator')",
    "ARRAY_LENGTH": "ARRAY_LENGTH(competitors) > 0",
    "[NOT] LIKE": "name LIKE 'Acme%' OR name NOT ILIKE '%gmbh'",
    "~": "domain ~ '\\.de$' OR REGEXP_LIKE(name, '^A') OR name ~* 'inc'",
    "CASE WHEN ... THEN ... ELSE ... END": "CASE WHEN employees > 100 THEN true ELSE false END "
    "OR IF(employees > 5, true, false)",
    "GREATEST": "GREATEST(won_amount_12m, won_amount_prev_12m) > 1000",
    "LEAST": "LEAST(won_amount_12m, won_amount_prev_12m) > 1000",
    "+": "won_amount_12m + 1 - 2 * 3 / 4 > 0 AND -employees < 0 AND employees % 2 = 0",
    "MOD": "MOD(employees, 2) = 0",
    "ABS": "ABS(revenue_growth) > 0.1",
    "CEIL": "CEIL(revenue_growth) > 0 OR CEILING(revenue_growth) > 0",
    "FLOOR": "FLOOR(revenue_growth) > 0",
    "ROUND": "ROUND(revenue_growth, 2) > 0.3",
    "SIGN": "SIGN(revenue_growth) > 0",
    "SQRT": "SQRT(ABS(revenue_growth)) > 0.5",
    "POWER": "POWER(revenue_growth, 2) > 0.5 OR POW(revenue_growth, 2) > 0.5",
    "LN": "LN(ABS(revenue_growth) + 1) > 0.5",
    "LOG10": "LOG10(ABS(revenue_growth) + 1) > 0.5",
    "LOWER": "LOWER(industry) = 'banking'",
    "UPPER": "UPPER(country) = 'DE'",
    "LENGTH": "LENGTH(name) > 3 OR CHAR_LENGTH(name) > 3",
    "TRIM": "TRIM(name) <> '' AND LTRIM(name) <> '' AND RTRIM(name) <> ''",
    "SUBSTR": "SUBSTR(name, 1, 3) = 'Acm' OR SUBSTRING(name, 2, 2) = 'cm'",
    "LEFT": "LEFT(country, 2) = 'DE'",
    "RIGHT": "RIGHT(domain, 3) = '.de'",
    "STARTS_WITH": "STARTS_WITH(name, 'Acme')",
    "ENDS_WITH": "ENDS_WITH(domain, '.de')",
    "STRPOS": "STRPOS(name, 'Bank') > 0",
    "||": "country || '-' || region = 'DE-EMEA'",
    "CONCAT": "CONCAT(country, region) = 'DEEMEA'",
    "LPAD": "LPAD(industry, 4, '0') = '0062' OR RPAD(industry, 4, '0') = '6200'",
    "EXTRACT(part FROM date)": "EXTRACT(year FROM created_at) >= 2020 "
    "OR DATE_PART('month', account_plan_started) = 1",
    "INTERVAL 'n unit'": "account_plan_started + INTERVAL '30 days' > last_review_date",
    "STRPTIME": "STRPTIME('2024-01-31', '%Y-%m-%d') IS NOT NULL",
    "CAST": "CAST(employees AS DOUBLE) > 1.5 AND employees::BIGINT > 1 "
    "AND created_at >= DATE '2024-01-01'",
    "TRY_CAST": "TRY_CAST(name AS INTEGER) > 0",
}


def test_every_entry_of_the_allow_list_has_an_example() -> None:
    assert {entry.names[0] for entry in CONDITION_FUNCTIONS} == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_allowed_function_passes_every_check_and_runs(name: str) -> None:
    checked = check_condition(EXAMPLES[name], COLUMNS, allowed=ENUMERATIONS)
    frame = condition_samples.sample_frame(COLUMNS, allowed=ENUMERATIONS)
    assert frame.select(checked.expr.alias("c")).schema["c"] == pl.Boolean


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("SOUNDEX(name) = 'A250'", "SOUNDEX"),
        ("REPEAT(name, 1000) = 'x'", "REPEAT"),
        ("REPLACE(name, 'a', 'b') = 'x'", "REPLACE"),
        ("COUNT(*) > 1", "COUNT"),
        ("SUM(employees) > 1", "SUM"),
    ],
)
def test_a_function_outside_the_allow_list_is_named_with_what_is_allowed(
    text: str, refused: str
) -> None:
    with pytest.raises(ConditionError) as raised:
        check_condition(text, COLUMNS)
    first = raised.value.problems[0]
    assert f"calls {refused}, which is not allowed" in first
    assert ", ".join(allowed_function_names()) in first


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("employees IN (SELECT 1)", "a subquery (SELECT)"),
        ("SUM(employees) OVER () > 1", "a window (OVER)"),
        ("created_at > NOW()", "the clock"),
        ("account_plan_started < CURRENT_DATE", "the clock"),
        ("t.employees > 1", "names a table"),
        ("employees > 1; DROP TABLE account_snapshot", "more than one statement"),
        ("CAST(name AS BLOB) IS NULL", "CAST to VARBINARY is not allowed"),
        ("employees > ?", "a parameter placeholder (? or :name; write the value itself)"),
    ],
)
def test_subqueries_windows_the_clock_and_statements_are_refused(text: str, said: str) -> None:
    with pytest.raises(ConditionError) as raised:
        check_condition(text, COLUMNS)
    assert any(said in p for p in raised.value.problems), raised.value.problems


def test_every_refusal_in_a_condition_is_reported_at_once() -> None:
    problems = analyse("SOUNDEX(name) = 'x' AND SUM(employees) OVER () > 1").problems
    assert "calls SOUNDEX, SUM, which are not allowed" in problems[0]
    assert any("a window (OVER)" in p for p in problems)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "LPAD(name, 500000000, 'x') = 'x'",
            "LPAD length 500000000 is out of bounds: from 0 to 255",
        ),
        ("RPAD(name, 256, 'x') = 'x'", "RPAD length 256 is out of bounds"),
        ("LPAD(name, employees, 'x') = 'x'", "LPAD needs its length as a whole number"),
        ("LPAD(name, -1, 'x') = 'x'", "LPAD length -1 is out of bounds"),
        ("LPAD(name, 3, name) = 'x'", "LPAD needs its fill text as a text literal"),
        ("ROUND(revenue_growth, 40) > 1", "ROUND decimals 40 is out of bounds"),
        ("name LIKE '" + "%" * 300 + "'", "LIKE pattern is 300 characters long"),
        ("name ~ '" + "a" * 300 + "'", "pattern is 300 characters long"),
    ],
)
def test_arguments_that_could_blow_up_memory_are_bounded_literals(text: str, said: str) -> None:
    with pytest.raises(ConditionError) as raised:
        check_condition(text, COLUMNS)
    assert any(said in p for p in raised.value.problems), raised.value.problems


def test_the_bounds_are_configurable() -> None:
    text = "LPAD(name, 300, '0') = '0'"
    with pytest.raises(ConditionError):
        check_condition(text, COLUMNS)
    assert check_condition(text, COLUMNS, limits=ConditionLimits(max_pad_length=300)).can_fail == ()


def test_a_condition_longer_than_a_salesforce_formula_is_refused() -> None:
    text = " OR ".join(["employees > 1"] * 300)
    with pytest.raises(ConditionError) as raised:
        check_condition(text, COLUMNS)
    assert "at most 3900 are allowed" in raised.value.problems[0]


def test_a_condition_nested_too_deeply_is_refused_not_crashed() -> None:
    text = "(" * 200 + "employees > 1" + ")" * 200
    with pytest.raises(ConditionError) as raised:
        check_condition(text, COLUMNS)
    assert "nested too deeply" in raised.value.problems[0]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("CAST(name AS INTEGER) > 0", "TRY_CAST gives NULL instead"),
        ("STRPTIME(name, '%Y') IS NULL", "STRPTIME fails on text that is not a date"),
        ("CAST(employees AS SMALLINT) > 10", "conversion from `i64` to `i16` failed"),
        ("CAST(revenue_growth AS INTEGER) > 1", "conversion from `f64` to `i32` failed"),
        ("SUBSTR(name, 1, employees) = 'x'", "SUBSTR fails on a negative length"),
        ("CAST(relationship_strength AS INTEGER) > 1", "fails on sample values"),
    ],
)
def test_a_condition_that_fails_on_some_values_is_refused_when_it_loads(
    text: str, said: str
) -> None:
    with pytest.raises(ConditionError) as raised:
        check_condition(text, COLUMNS, allowed=ENUMERATIONS)
    assert raised.value.problems[0].startswith("condition fails on sample values")
    assert said in raised.value.problems[0]


def test_the_samples_hold_nulls_and_text_that_is_not_a_number_or_a_date() -> None:
    frame = condition_samples.sample_frame(COLUMNS, allowed=ENUMERATIONS)
    names = frame["name"].to_list()
    assert None in names and "abc" in names and "" in names
    assert set(ENUMERATIONS["relationship_strength"]) <= set(frame["relationship_strength"])
    assert frame["employees"].max() == 2**63 - 1
    assert frame["annual_revenue"].null_count() > 0


def test_a_computed_column_is_tried_on_the_values_it_can_hold() -> None:
    columns = {**COLUMNS, "score": pl.Float64()}
    text = "CAST(score AS SMALLINT) >= 60"
    with pytest.raises(ConditionError):
        ConditionChecker(columns).check(text)
    checked = ConditionChecker(columns, exact={"score": [0.0, 50.0, 100.0]}).check(text)
    assert checked.can_fail == ("CAST",)


def test_an_expression_may_give_a_number_but_a_condition_must_give_true_or_false() -> None:
    checker = ConditionChecker(COLUMNS)
    assert checker.check("ARRAY_LENGTH(competitors)", boolean=False).dtype == pl.UInt32
    with pytest.raises(ConditionError) as raised:
        checker.check("ARRAY_LENGTH(competitors)")
    assert "must be true or false" in raised.value.problems[0]


def test_a_record_filter_failing_on_crm_data_names_its_line_and_no_value(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "crm: salesforce\nobjects:\n  account:\n    crm_object: Account\n"
        '    filter: "CAST(name AS INTEGER) > 0"\n',
        encoding="utf-8",
    )
    accounts = pl.DataFrame({"name": ["42", "Secret Customer AG"]})
    with pytest.raises(ConfigError) as raised:
        filter_records(
            accounts,
            "CAST(name AS INTEGER) > 0",
            source=mapping,
            where=("objects", "account", "filter"),
            scope="applying the account record filter",
        )
    text = str(raised.value)
    assert f"{mapping}:5:5: condition failed on the CRM data of this run" in text
    assert "TRY_CAST" in text and "nothing was written" in text
    assert "Secret Customer" not in text, "CRM values never appear in an error"


def test_a_record_filter_keeps_the_rows_it_holds_for() -> None:
    accounts = pl.DataFrame({"employees": [5, None, 50]})
    kept = filter_records(
        accounts, "employees > 10", source=Path("unused.yaml"), where=(), scope="filtering"
    )
    assert kept["employees"].to_list() == [50]


def test_the_readme_lists_every_entry_of_the_allow_list() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Conditions", 1)[1].split("\n### ", 1)[0]
    missing = [
        name
        for entry in CONDITION_FUNCTIONS
        for name in entry.names
        if f"`{name.replace('|', chr(92) + '|')}`" not in section
    ]
    assert not missing, f"README's Conditions section lacks {missing}"
