"""The sync engine: the order of the steps of one run, batching and journaling."""
