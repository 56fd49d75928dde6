"""Fitting the rule pack's texts (score explanation, checklist gaps) into their CRM fields.

The rule files say how long each text may be (``explanation.max_length``, ``gaps.max_length``);
the mapping's write-back target says how many characters the CRM field holds. A text longer than
its field would be cut by the write-back wherever the field ends, in the middle of a word or a
number; so the pack's limit is lowered to the field's length, the text is cut at a word boundary
with an ellipsis, and `validate` says so (a warning, not an error: nothing is lost that the
field could have held).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from kam_sync.config.issues import ConfigIssue
from kam_sync.config.mapping import MappingFile, WriteBackTarget
from kam_sync.config.rule_pack import RulePack

# What a text field holds when the mapping gives no length: a Salesforce Text field at most
# 255 characters, a Long Text Area 32,768 (Salesforce Help, "Custom Field Types").
TEXT_LENGTH_DEFAULTS: Mapping[str, int] = {"text": 255, "longtext": 32_768}
# The write-back targets that carry the rule pack's texts, and where their limit is set.
TEXT_TARGETS = {
    "kam_score_explanation": ("scoring", "explanation.max_length"),
    "kam_checklist_gaps": ("checklist", "gaps.max_length"),
}


def target_length(target: WriteBackTarget) -> int | None:
    """The characters a text target holds: its ``length``, else its type's default."""
    if target.length is not None:
        return target.length
    return TEXT_LENGTH_DEFAULTS.get(target.type)


def configured_lengths(pack: RulePack) -> dict[str, int]:
    """The rule pack's limit for each text target."""
    return {
        "kam_score_explanation": pack.scoring.explanation.max_length,
        "kam_checklist_gaps": pack.checklist.gaps.max_length,
    }


def fit_to_targets(pack: RulePack, mapping: MappingFile, files: Mapping[str, Path]) -> RulePack:
    """``pack`` with each text's limit lowered to its target's length, and a warning for each
    limit lowered (``files``: rule file kind -> path, for the warning's place)."""
    limits = configured_lengths(pack)
    warnings: list[ConfigIssue] = []
    scoring, checklist = pack.scoring, pack.checklist
    for name, (kind, setting) in TEXT_TARGETS.items():
        target = mapping.write_back.get(name)
        length = target_length(target) if target is not None else None
        if target is None or length is None or length >= limits[name]:
            continue
        warnings.append(
            ConfigIssue(
                files.get(kind),
                None,
                None,
                f"{setting} is {limits[name]}, but write_back.{name} ({target.crm}) holds "
                f"{length} characters: the text is cut to {length} at a word boundary; raise the "
                "field's length, or set the same max_length to silence this",
            )
        )
        if kind == "scoring":
            explanation = scoring.explanation.model_copy(update={"max_length": length})
            scoring = scoring.model_copy(update={"explanation": explanation})
        else:
            gaps = checklist.gaps.model_copy(update={"max_length": length})
            checklist = checklist.model_copy(update={"gaps": gaps})
    if not warnings:
        return pack
    return dataclasses.replace(
        pack, scoring=scoring, checklist=checklist, warnings=(*pack.warnings, *warnings)
    )


def short_text_field(crm_field: str, length: int, target: str, limit: int) -> str:
    """The warning for a CRM text field shorter than the rule pack's limit for its text."""
    setting = TEXT_TARGETS[target][1]
    return (
        f"{crm_field} holds {length} characters, fewer than the {limit} that {setting} allows: "
        f"longer texts would be cut where the field ends; set `length: {length}` on this target "
        "(texts are then cut at a word boundary) or lower max_length"
    )
