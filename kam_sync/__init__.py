"""kam-sync: Key Account Management inside the CRM a sales-ops team already uses."""

from __future__ import annotations

__version__ = "0.1.0"
