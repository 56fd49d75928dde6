"""The custom fields kam-sync needs: the write-back fields, and the KAM inputs people fill in.

Outputs come from the mapping's write-back targets. Inputs come from the account fields the
mapping reads for the canonical KAM inputs (``INPUT_FIELDS``), with their values from the rule
pack: the tiers of ``scoring.yaml``, the values its picklist scales score, and the checklist
questions of ``checklist.yaml`` (answers and not-applicable marks are multi-selects whose values
are the question ids, labelled with the question text). A CRM value is the key of the input's
value map that maps onto a canonical value, or the canonical value itself when there is none.

Only inputs mapped onto a plain field are provisioned: relations (``Owner.Name``) and related
pseudo-fields (``@AccountTeamMember.TeamMemberRole``) are the CRM's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from kam_sync import canonical
from kam_sync.config.mapping import FieldMapping, MappingFile, WriteBackTarget
from kam_sync.config.rule_pack import RulePack
from kam_sync.config.rule_spec.scoring import PicklistMap
from kam_sync_connectors.base import CustomFieldSpec, CustomFieldType

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
OUTPUT_HELP = "Written by kam-sync on every run; do not edit (a person's edit is kept and flagged)."


@dataclass(frozen=True, slots=True)
class InputField:
    """How kam-sync creates the field of one KAM input: its type, label and help text."""

    type: CustomFieldType
    label: str
    help_text: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None


# Who fills in each input, what it means, what it drives. Executive sponsor is text, not a
# lookup: the sponsor is an executive on our side (a User, not a customer Contact), HubSpot has
# no lookup property, and the checklist only asks whether there is one.
INPUT_FIELDS: dict[str, InputField] = {
    "tier_override": InputField(
        "picklist",
        "KAM Tier Override",
        "Set by the head of key accounts to fix an account's tier whatever its score; kam-sync "
        "writes this tier and flags tier_override. Leave empty to let the rules decide.",
    ),
    "relationship_strength": InputField(
        "picklist",
        "KAM Relationship Strength",
        "The account owner's judgement of the relationship. Feeds the relationship factor of "
        "the key-account score.",
    ),
    "logo_attractiveness": InputField(
        "picklist",
        "KAM Logo Attractiveness",
        "Marketing's judgement of the name's value as a reference. Feeds the logo factor of "
        "the key-account score.",
    ),
    "strategic_fit": InputField(
        "picklist",
        "KAM Strategic Fit",
        "How well the account fits our strategy, set by the account owner. Feeds the fit "
        "factor of the key-account score.",
    ),
    "public_company": InputField(
        "checkbox",
        "KAM Public Company",
        "Ticked by the account owner when the customer is listed on a stock exchange. Feeds "
        "the logo factor; analyst questions of the checklist apply only to public companies.",
    ),
    "executive_sponsor": InputField(
        "text",
        "KAM Executive Sponsor",
        "The executive on our side who sponsors the account (name), filled in by the account "
        "owner. Answers checklist question our_team_01.",
        length=255,
    ),
    "competitors": InputField(
        "multipicklist",
        "KAM Competitors",
        "Competitors active at the account, ticked by the account owner; an admin adds "
        "competitor names as values. Their number feeds the win-now-grow-later factor.",
    ),
    "contacts_engaged": InputField(
        "number",
        "KAM Contacts Engaged",
        "How many people at the customer we are in regular touch with, kept by the account "
        "owner. Feeds the relationship factor and checklist question account_team_07.",
        precision=6,
        scale=0,
    ),
    "checklist_answers": InputField(
        "multipicklist",
        "KAM Checklist Answers",
        "The account-plan questions the account team can answer with yes: tick them. Each "
        "value's description holds the whole question. Drives checklist completion and the "
        "plan stage.",
    ),
    "checklist_not_applicable": InputField(
        "multipicklist",
        "KAM Checklist Not Applicable",
        "The account-plan questions that do not apply to this account: tick them and they "
        "leave checklist completion. Each value's description holds the whole question.",
    ),
    "account_plan_started": InputField(
        "date",
        "KAM Account Plan Started",
        "The day the account team started the account plan, set by the account manager. "
        "Gates the plan stage.",
    ),
    "last_review_date": InputField(
        "date",
        "KAM Last Review Date",
        "The day of the last account-plan review with the account team, set by the account "
        "manager. An old review flags review_due and moves the plan stage to review.",
    ),
    "team_roles": InputField(
        "multipicklist",
        "KAM Team Roles",
        "The roles filled in our account team, ticked by the account manager. Answers the "
        "account-team checklist questions and flags missing_roles.",
    ),
}
# A competitors multi-select needs one value to be created; admins add the real names.
OTHER_COMPETITOR = "Other"


def field_specs(mapping: MappingFile) -> list[CustomFieldSpec]:
    """One spec per write-back target, in the mapping's order."""
    obj = mapping.objects.account.crm_object
    return [_output_spec(obj, name, target) for name, target in mapping.write_back.items()]


def input_field_specs(mapping: MappingFile, rules: RulePack) -> list[CustomFieldSpec]:
    """One spec per KAM input the mapping reads from a plain account field."""
    account = mapping.objects.account
    specs: list[CustomFieldSpec] = []
    for name, spec in account.field_mappings().items():
        shape = INPUT_FIELDS.get(name)
        if shape is None or spec.crm.startswith("@") or "." in spec.crm:
            continue
        values, labels, descriptions = _input_values(name, spec, rules)
        exact = name in ("checklist_answers", "checklist_not_applicable")
        help_text = shape.help_text
        if values and not exact:
            help_text += " Values: " + ", ".join(labels) + "."
        specs.append(
            CustomFieldSpec(
                object_name=account.crm_object,
                name=spec.crm,
                label=shape.label,
                type=shape.type,
                length=shape.length,
                precision=shape.precision,
                scale=shape.scale,
                values=values,
                labels=labels,
                description=f"KAM input: {shape.help_text}",
                help_text=help_text,
                value_descriptions=descriptions,
                exact_values=exact,
                access="read",
            )
        )
    return specs


def all_field_specs(
    mapping: MappingFile, rules: RulePack, *, inputs: bool = True
) -> list[CustomFieldSpec]:
    """The input fields (unless ``inputs`` is off), then the write-back fields."""
    return (input_field_specs(mapping, rules) if inputs else []) + field_specs(mapping)


def checklist_options(rules: RulePack) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The checklist questions as (ids, question texts, category: question texts)."""
    ids: list[str] = []
    texts: list[str] = []
    descriptions: list[str] = []
    for category in rules.checklist.categories.values():
        for question in category.questions:
            ids.append(question.id)
            texts.append(question.text)
            descriptions.append(f"{category.title}: {question.text}")
    return tuple(ids), tuple(texts), tuple(descriptions)


def _input_values(
    name: str, spec: FieldMapping, rules: RulePack
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    if name in ("checklist_answers", "checklist_not_applicable"):
        return checklist_options(rules)
    canonical_values = _canonical_values(name, rules)
    if canonical_values is None:
        if name == "competitors":
            named = tuple((spec.value_map or {}).keys()) or (OTHER_COMPETITOR,)
            return named, named, ()
        return (), (), ()
    values: list[str] = []
    for value in canonical_values:
        crm = next((k for k, v in (spec.value_map or {}).items() if v == value), value)
        values.append(crm)
    labels = tuple(_label(v) for v in values)
    return tuple(values), labels, ()


def _canonical_values(name: str, rules: RulePack) -> tuple[str, ...] | None:
    """The values the rule pack knows for an enumerated input, in its order."""
    if name == "tier_override":
        return rules.tier_names
    for factor in rules.scoring.factors.values():
        for signal in factor.signals:
            if signal.input == name and isinstance(signal.scale, PicklistMap):
                return tuple(signal.scale.values)
    return canonical.ENUMERATIONS.get(name)


def _label(value: str) -> str:
    """A CRM value as people read it: ``strategic_partner`` -> ``Strategic partner``."""
    if value.islower() or "_" in value:
        return value.replace("_", " ").capitalize()
    return value


def _output_spec(obj: str, name: str, target: WriteBackTarget) -> CustomFieldSpec:
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
        help_text=f"{DESCRIPTIONS.get(name, '')} {OUTPUT_HELP}".strip(),
    )
