"""The sandbox holds picklists and options to the limits Salesforce and HubSpot document."""

from __future__ import annotations

from typing import Any

import pytest

from kam_sync.sandbox.hubspot.properties_api import parse_options
from kam_sync.sandbox.salesforce.tooling import field_from_metadata, metadata_from_field
from kam_sync.sandbox.salesforce.values import coerce_for_write
from kam_sync.sandbox.server import HttpError


def _multi(values: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "label": "KAM Checklist Answers",
        "type": "MultiselectPicklist",
        "valueSet": {"restricted": True, "valueSetDefinition": {"value": values}},
    }


def _error_code(exc: HttpError) -> str:
    body = exc.response.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return text


def test_a_salesforce_picklist_value_label_longer_than_255_characters_is_refused() -> None:
    with pytest.raises(HttpError) as raised:
        field_from_metadata("X__c", _multi([{"fullName": "needs_01", "label": "x" * 256}]))
    assert "STRING_TOO_LONG" in _error_code(raised.value)
    field = field_from_metadata("X__c", _multi([{"fullName": "needs_01", "label": "x" * 255}]))
    assert field.picklist_labels == ("x" * 255,)


def test_a_restricted_salesforce_picklist_holds_at_most_1000_values_inactive_ones_included() -> (
    None
):
    values = [{"fullName": f"v{n}", "label": f"v{n}"} for n in range(1000)]
    field_from_metadata("X__c", _multi(values))
    with pytest.raises(HttpError) as raised:
        field_from_metadata(
            "X__c", _multi([*values, {"fullName": "v1000", "label": "x", "isActive": False}])
        )
    assert "at most 1000" in _error_code(raised.value)


def test_an_inactive_salesforce_value_is_not_offered_and_cannot_be_written() -> None:
    field = field_from_metadata(
        "X__c",
        _multi(
            [
                {"fullName": "needs_01", "label": "Priorities?"},
                {"fullName": "needs_99", "label": "Gone", "isActive": False},
            ]
        ),
    )
    assert field.picklist == ("needs_01",)
    assert field.describe()["picklistValues"][0]["label"] == "Priorities?"
    assert coerce_for_write(field, "needs_01") == "needs_01"
    with pytest.raises(Exception, match="bad value for restricted picklist"):
        coerce_for_write(field, "needs_01;needs_99")
    # what `GET CustomField/{id}` shows keeps the labels
    shown = metadata_from_field(field)["valueSet"]["valueSetDefinition"]["value"]
    assert shown == [{"fullName": "needs_01", "label": "Priorities?", "default": False}]


def test_salesforce_help_text_holds_510_characters() -> None:
    meta = {"label": "KAM Score", "type": "Number", "precision": 5, "scale": 2}
    assert field_from_metadata("X__c", {**meta, "inlineHelpText": "h" * 510}).inline_help_text
    with pytest.raises(HttpError):
        field_from_metadata("X__c", {**meta, "inlineHelpText": "h" * 511})


def test_a_hubspot_option_holds_3000_characters_with_its_label_value_and_description() -> None:
    fits = {"value": "needs_01", "label": "l" * 1000, "description": "d" * (2000 - 8)}
    assert parse_options("enumeration", [fits])[0].description == fits["description"]
    with pytest.raises(HttpError):
        parse_options("enumeration", [{**fits, "label": "l" * 1001}])


def test_a_hubspot_property_holds_at_most_5000_options() -> None:
    options = [{"value": f"v{n}", "label": f"v{n}"} for n in range(5000)]
    assert len(parse_options("enumeration", options)) == 5000
    with pytest.raises(HttpError):
        parse_options("enumeration", [*options, {"value": "v5000", "label": "v5000"}])
