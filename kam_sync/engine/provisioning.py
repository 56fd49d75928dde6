"""The custom fields kam-sync needs, from the mapping's write-back targets."""

from __future__ import annotations

from kam_sync.config.mapping import MappingFile, WriteBackTarget
from kam_sync_connectors.base import CustomFieldSpec

DESCRIPTIONS = {
    "kam_tier": "Key-account tier assigned by kam-sync (a tier override field always wins).",
    "kam_classification": "Existing key, emerging key or not key, by kam-sync's rules.",
    "kam_score": "Key-account candidacy score 0-100 computed by kam-sync.",
    "kam_score_explanation": "How the kam-sync score was made: each factor's value, score and weight.",
    "kam_plan_stage": "Step of the 5-step key account management process reached.",
    "kam_checklist_completion": "Share of applicable account-plan questions answered.",
    "kam_checklist_gaps": "The least complete account-plan checklist categories.",
    "kam_flags": "kam-sync flags: over cap, growth alert, review due, missing roles, ...",
    # Written with every change and never alone (a run with nothing new writes nothing), so it
    # says when the values last changed, not when the sync last ran: the run ledger and the
    # report say that (README, "Did last night's sync run?").
    "kam_last_assessed": "When kam-sync last changed this account's KAM values. Runs that "
    "change nothing leave it as it is: the kam-sync report shows when the sync last ran.",
}


def field_specs(mapping: MappingFile) -> list[CustomFieldSpec]:
    """One spec per write-back target, in the mapping's order."""
    obj = mapping.objects.account.crm_object
    return [_spec(obj, name, target) for name, target in mapping.write_back.items()]


def _spec(obj: str, name: str, target: WriteBackTarget) -> CustomFieldSpec:
    values = tuple((target.values or {}).values())
    labels = tuple(v.replace("_", " ").title() if v.islower() else v for v in values)
    return CustomFieldSpec(
        object_name=obj,
        name=target.crm,
        label=target.label or name.replace("_", " ").title(),
        type=target.type,
        length=target.length,
        precision=target.precision,
        scale=target.scale,
        values=values,
        labels=labels,
        description=DESCRIPTIONS.get(name, ""),
    )
