"""``ConfigIssue`` lives in ``kam_sync.issues`` (below ``errors``, which needs it); it is
re-exported here for the modules that report configuration problems."""

from __future__ import annotations

from kam_sync.issues import ConfigIssue

__all__ = ["ConfigIssue"]
