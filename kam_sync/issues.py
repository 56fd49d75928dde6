"""Configuration problems with their place in a file (below `config` and `errors`: both use it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in one file, printed as ``path:line:col: message``.

    ``line`` and ``col`` are 1-based, like editors show them.
    """

    file: Path | None
    line: int | None
    col: int | None
    message: str

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        where = str(self.file)
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.message}"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (str(self.file or ""), self.line or 0, self.col or 0, self.message)
