"""What editors show on hover: the descriptions of the canonical fields, and of the rule files'
keys whose models carry none.

The rule files' models (``rule_spec/``) keep their code short; their keys are described here,
by model and field name, and ``schemas.py`` fills them into the JSON Schemas where a model gives
no description of its own (a ``Field(description=...)`` in the model wins). A key missing from
both fails ``tests/unit/config/test_schemas.py``.
"""

from __future__ import annotations

from typing import Final

# Canonical fields a mapping maps CRM fields onto (kam_sync.canonical), in the user's words.
CANONICAL_FIELD_DOCS: Final[dict[str, dict[str, str]]] = {
    "account": {
        "id": "the account's CRM id (required)",
        "name": "the account's name",
        "parent_id": "the parent account's id (the account hierarchy)",
        "owner_id": "the account owner's user id (or name, through a relation such as Owner.Name)",
        "industry": "industry, as the fit factor and conditions compare it",
        "country": "country",
        "region": "sales region",
        "employees": "number of employees (a whole number)",
        "annual_revenue": "the company's own annual revenue (money)",
        "account_type": "account type (customer, partner, competitor, ...)",
        "domain": "web domain",
        "created_at": "when the account was created",
        "modified_at": "the CRM's last-modified stamp: incremental pulls go by it (required)",
        "is_deleted": "deleted or archived in the CRM",
        "tier_override": "a tier set by a person; always wins over the computed tier",
        "relationship_strength": "how strong our relationships are (a picklist; value_map it)",
        "logo_attractiveness": "the value of the name as a reference (a picklist)",
        "strategic_fit": "offer and cultural fit (a picklist)",
        "public_company": "listed on a stock exchange (true/false)",
        "executive_sponsor": "our executive sponsor of the account",
        "competitors": "competitors present in the account (a list)",
        "contacts_engaged": "contacts engaged with us (a whole number)",
        "checklist_answers": "ids of the checklist questions the account team ticked (a list)",
        "checklist_not_applicable": "ids of checklist questions marked not applicable (a list)",
        "account_plan_started": "the date the account plan was started",
        "last_review_date": "the date of the last account-plan review",
        "team_roles": "roles covered on the account team (a list, e.g. from account teams)",
    },
    "opportunity": {
        "id": "the opportunity's CRM id (required)",
        "account_id": "the id of the account it belongs to (required)",
        "name": "the opportunity's name",
        "amount": "the amount (money), in one currency per org",
        "stage": "the sales stage",
        "is_closed": "closed (won or lost)",
        "is_won": "closed won",
        "probability": "win probability in percent (0..100; scale: 100 for a 0..1 share)",
        "opportunity_type": "new business, renewal, expansion, ...",
        "close_date": "the (expected) close date",
        "created_at": "when the opportunity was created",
        "modified_at": "the CRM's last-modified stamp: incremental pulls go by it (required)",
        "is_deleted": "deleted or archived in the CRM",
    },
    "write_back": {
        "kam_tier": "the account's KAM tier",
        "kam_classification": "existing key, emerging key or not key",
        "kam_score": "the candidacy score, 0..100",
        "kam_score_explanation": "the score explained factor by factor",
        "kam_plan_stage": "the 5-step plan stage (strategy .. review)",
        "kam_checklist_completion": "checklist completion in percent",
        "kam_checklist_gaps": "the least complete checklist categories",
        "kam_flags": "flags: over_cap, growth_alert, review_due, missing roles, manual_override, ...",
        "kam_last_assessed": "when kam-sync last assessed the account",
    },
}

_WHEN = "SQL boolean condition over account columns and metrics (README, 'Conditions')"

# Rule file keys by model class name and field name.
RULE_FIELD_DOCS: Final[dict[str, dict[str, str]]] = {
    "ScoringFile": {
        "version": "file format version",
        "factors": "candidacy factors by name (current_revenue, growth_potential, ...): the "
        "score is their weighted mean, 0..100",
        "classification": "existing key / emerging key / not key: the first rule whose `when` "
        "holds; the last takes everyone else",
        "tiers": "tiers, highest first: the first whose min_score and `when` hold; the last "
        "takes everyone else",
        "explanation": "the score explanation written to the CRM",
        "hierarchy": "scoring an account hierarchy as one group",
    },
    "Factor": {
        "label": "the factor's name for people (explain, the CRM explanation); default: its id in words",
        "weight": "relative weight of the factor in the score (weights need not add up to 100)",
        "signals": "the evidence: each signal reads a column or an expression and puts it on a "
        "scale; the factor is their weighted mean",
        "missing": "when no signal has a value: neutral (neutral_score), zero, or exclude (left "
        "out, the other weights re-scaled)",
        "neutral_score": "the factor's score when missing is neutral, 0..1",
    },
    "Signal": {
        "label": "the signal's name for people (explain, the CRM explanation); default: its input in words",
        "input": "a column: an account field or a metric (won_amount_12m, open_pipeline, ...)",
        "expression": "a SQL value expression over the same columns, instead of input",
        "scale": "how the value becomes a score 0..1: linear_band, log_band, percentile, "
        "step_table, picklist_map or boolean",
        "direction": "lower_is_better turns the scale round (longer sales cycles score lower)",
        "weight": "relative weight of the signal within its factor",
    },
    "LinearBand": {
        "type": "linear_band: 0 at low or below, 1 at high or above, a straight line between",
        "low": "the value that scores 0",
        "high": "the value that scores 1",
    },
    "LogBand": {
        "type": "log_band: a linear band on a logarithmic axis (money, headcount)",
        "low": "the value that scores 0 (> 0)",
        "high": "the value that scores 1 (> 0)",
    },
    "Percentile": {
        "type": "percentile: the share of scored accounts with a lower value (0 lowest, 1 highest)"
    },
    "StepTable": {
        "type": "step_table: the score of the highest step reached; 0 below the first",
        "steps": "the steps, each {at, score}",
    },
    "Step": {"at": "the value from which this step's score applies", "score": "the score, 0..1"},
    "PicklistMap": {
        "type": "picklist_map: one score per picklist value",
        "values": "picklist value -> score 0..1",
        "other": "the score of values not listed",
    },
    "BooleanScale": {
        "type": "boolean: one score for true, one for false",
        "if_true": "the score when the value is true",
        "if_false": "the score when the value is false",
    },
    "ClassificationRule": {
        "name": "existing_key, emerging_key or not_key",
        "when": f"{_WHEN}; may name score and factor_<name>. None: everyone left",
    },
    "TierRule": {
        "name": "the tier's name (as written to the CRM through the mapping's value map)",
        "min_score": "the lowest score in this tier, 0..100",
        "when": f"{_WHEN}; may also name classification",
    },
    "Explanation": {
        "max_length": "characters of the score explanation (Salesforce long text holds 32,768)"
    },
    "Hierarchy": {
        "roll_up": "true: a parent and its descendants are scored as one group and share its tier"
    },
    "GovernanceFile": {
        "version": "file format version",
        "key_tiers": "tiers that make up the key-account list (counted against the cap and the "
        "growth alerts)",
        "waitlist_tier": "where an account goes when it qualifies but does not fit under the cap",
        "cap": "how many key accounts there may be",
        "anti_flapping": "margins that keep tiers from changing night after night",
        "growth_alert": "alerts when the key list grows faster than allowed",
    },
    "Cap": {
        "max_accounts": "at most this many key accounts",
        "max_share": "and at most this share (0..1) of all assessed accounts; the smaller applies",
        "mode": "enforce: rank and move the rest to the waitlist tier; flag: demote nobody, flag "
        "over_cap",
    },
    "AntiFlapping": {
        "promotion_margin": "a newcomer enters the key list only if it still qualifies with its "
        "score lowered by this many points",
        "demotion_margin": "an incumbent is demoted only if it no longer qualifies even with its "
        "score raised by this many points",
        "demotion_runs": "runs in a row below before a demotion",
    },
    "GrowthAlert": {
        "window_days": "compare the key list now with the oldest run within this many days",
        "max_growth_percent": "alert when the list grew by more than this percentage",
        "max_added_accounts": "alert when the list grew by more than this many accounts",
        "additions_without_removals_runs": "alert when accounts were added, and none removed, in "
        "this many runs in a row",
    },
    "ChecklistFile": {
        "version": "file format version",
        "categories": "the eight categories (our_team, account_team, trends, needs, "
        "account_info, competitors, value, unknowns) with their questions",
        "gaps": "what the checklist gaps text names",
    },
    "Category": {"title": "the category's title", "questions": "the category's questions"},
    "Question": {
        "id": "<category>_NN; never change it once teams have ticked it in the CRM",
        "text": "the question as the account team reads it",
        "evidence": f"answered when this holds: {_WHEN}",
        "not_applicable_when": f"left out of completion when this holds: {_WHEN}",
    },
    "Gaps": {
        "max_categories": "how many of the least complete categories the gaps text names",
        "max_length": "characters of the checklist gaps text; cut at a word boundary with an "
        "ellipsis (a shorter write-back field lowers it, and validate warns)",
    },
    "StagesFile": {
        "version": "file format version",
        "programme_tiers": "tiers in the key-account programme: they get a plan stage, "
        "checklist completion, gaps and team-role checks",
        "gates": "the 5-step plan stages in order: the stage is the last one whose gate and "
        "every earlier gate hold",
        "review": "the account-plan review cadence",
        "team": "the roles a key account's team should cover",
    },
    "Gate": {
        "label": "the stage's name for people (explain, plan); default: the stage id in words",
        "requires": "what the gate requires, in words, for explain",
        "stage": "strategy, research, action_plan, execution or review",
        "when": f"{_WHEN}; may name checklist_completion, checklist_<category>, "
        "days_since_review, review_due. None: always",
    },
    "Review": {
        "cadence_days": "a review is due when the last one (or the plan start) is older than this"
    },
    "Team": {
        "required_roles": "roles to cover; missing ones are listed and flagged (technical "
        "expert, relationship manager, collaborator, project leader, innovator, results driver)"
    },
}
