"""Salesforce connector (simple-salesforce)."""
