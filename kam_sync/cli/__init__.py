"""The `kam-sync` command."""
