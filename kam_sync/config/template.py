"""The commented ``kam-sync.yaml`` that `kam-sync init` writes."""

from __future__ import annotations

PROJECT_TEMPLATE = """\
# yaml-language-server: $schema=schemas/kam-sync.schema.json
# kam-sync project file. `kam-sync validate` checks it; every key is described in the README
# ("Config reference") and in schemas/kam-sync.schema.json, which editors use to complete keys.
# Secrets never go here: credentials come from environment variables (KAM_SYNC_*) or the keyring.
version: 1

crm:
  type: {crm}
{crm_block}
# The mapping file: CRM fields <-> canonical fields, and the write-back allow-list.
mapping: mappings/{crm}.yaml

# The rule files: scoring factors, tiers and list governance, checklist, plan stages.
rules:
  scoring: rules/scoring.yaml
  governance: rules/governance.yaml
  checklist: rules/checklist.yaml
  stages: rules/stages.yaml

# The state store. Default: SQLite in this folder. PostgreSQL:
#   url: postgresql+psycopg://kam@db.example.com/kam   (password from KAM_SYNC_STORE_PASSWORD)
store:
  url: sqlite:///state/kam-sync.sqlite

# When `kam-sync schedule` runs the sync: crontab fields and an IANA time zone.
schedule:
  cron: "0 2 * * *"
  timezone: UTC
  misfire_grace_minutes: 120

sync:
  retry_limit: 5                  # runs a failed write is retried before it is a dead letter
  overwrite_manual_edits: false   # a value a person changed in the CRM is kept and flagged

# The HTML report (`kam-sync report`); after_run writes it after every run, e.g. to a folder
# your sales leads can open: its first line says when the sync last ran and how it ended.
report:
  # after_run: reports/kam-sync.html
  runs: 30                        # runs in the run history and the key-list chart

# Where run-level alerts go: the log, and optionally a webhook whose URL is in an env variable.
alerts:
  - type: log
  # - type: webhook
  #   url_env: KAM_SYNC_SLACK_WEBHOOK   # the variable holding the URL (URLs hold tokens)
  #   format: slack                      # generic | slack | teams
"""

SALESFORCE_BLOCK = """\
  salesforce:
    login_url: https://login.salesforce.com   # or https://test.salesforce.com, a My Domain URL
    auth: jwt                  # jwt | client_credentials | password | session
    api_version: "62.0"
    timeout_seconds: 60
    query_batch_size: 2000     # records per query page (200..2000)
    write_batch_size: 200      # records per sObject Collections request (max 200)
    bulk_write_threshold: 2000 # above this many updates, use a Bulk API 2.0 job
    look_back_minutes: 10
    quota_stop_at_percent: 80      # stop when the org has used this share of its daily API calls
    quota_max_percent_per_run: 25  # and never spend more than this share in one run
"""

HUBSPOT_BLOCK = """\
  hubspot:
    base_url: https://api.hubapi.com
    auth: private_app          # private_app (KAM_SYNC_HUBSPOT_TOKEN) | oauth
    rate_limit_tier: 190       # requests per 10 s of your HubSpot tier: 100, 190 or 250
    timeout_seconds: 60
    look_back_minutes: 10
    quota_stop_at_percent: 80
    quota_max_percent_per_run: 25
"""


def render_project_file(crm: str, crm_block: str | None = None) -> str:
    """The project file for ``crm``; ``crm_block`` replaces the default connection section."""
    block = crm_block or (SALESFORCE_BLOCK if crm == "salesforce" else HUBSPOT_BLOCK)
    return PROJECT_TEMPLATE.format(crm=crm, crm_block=block)
