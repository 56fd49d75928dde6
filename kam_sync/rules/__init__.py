"""The rules engine: candidacy score, classification, tiers, list governance, checklist, plan stage.

Entry points:

- ``load_rule_pack(files)`` loads and checks ``rules/*.yaml`` into a ``RulePack``;
- ``assess_portfolio(accounts, opportunities, history, pack, as_of)`` runs the pure engine.
"""

from __future__ import annotations

from kam_sync.config.rule_pack import RULE_FILE_MODELS, RulePack, load_rule_pack
from kam_sync.rules.assess import PortfolioAssessment, assess_portfolio, assessment_schema
from kam_sync.rules.columns import METRICS_SCHEMA
from kam_sync.rules.history import ACCOUNT_STATE_SCHEMA, Alert, GovernanceHistory, KeyListRun
from kam_sync.rules.metrics import compute_metrics

__all__ = [
    "ACCOUNT_STATE_SCHEMA",
    "METRICS_SCHEMA",
    "RULE_FILE_MODELS",
    "Alert",
    "GovernanceHistory",
    "KeyListRun",
    "PortfolioAssessment",
    "RulePack",
    "assess_portfolio",
    "assessment_schema",
    "compute_metrics",
    "load_rule_pack",
]
