"""The default mapping and rule files that ship with kam-sync and that `kam-sync init` copies.

In a built wheel they live in the package (``kam_sync/defaults/{mappings,rules}``); in a source
checkout they are the repository's own ``mappings/`` and ``rules/`` folders, which are the
files ops engineers edit and review.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from kam_sync.errors import KamSyncError

KINDS = ("mappings", "rules")


def defaults_dir(kind: str) -> Path:
    """The folder holding the default files of ``kind`` (``mappings`` or ``rules``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown defaults kind {kind!r}")
    packaged = Path(str(resources.files("kam_sync"))) / "defaults" / kind
    if packaged.is_dir() and any(packaged.glob("*.yaml")):
        return packaged
    checkout = Path(__file__).resolve().parent.parent / kind
    if checkout.is_dir() and any(checkout.glob("*.yaml")):
        return checkout
    raise KamSyncError(
        f"the default {kind} files are missing from this installation (looked in {packaged} "
        f"and {checkout}); reinstall kam-sync"
    )


def default_files(kind: str) -> dict[str, Path]:
    """Default files of ``kind`` by file name."""
    return {p.name: p for p in sorted(defaults_dir(kind).glob("*.yaml"))}
