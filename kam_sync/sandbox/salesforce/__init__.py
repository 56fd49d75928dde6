"""The Salesforce half of the sandbox CRM (REST, SOQL, composite, Bulk API 2.0, Tooling)."""

from __future__ import annotations
