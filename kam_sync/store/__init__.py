"""The local state store: snapshots, watermarks, the run ledger, retry queue, quarantine, history."""

from kam_sync.store.store import StateStore, open_store

__all__ = ["StateStore", "open_store"]
