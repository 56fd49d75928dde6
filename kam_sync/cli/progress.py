"""Progress per step: a bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger("kam_sync.progress")


class StepProgress:
    """Callable passed to the engine as ``progress(step, done, total)``."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._tty = enabled and sys.stderr.isatty()
        self._bars: dict[str, Any] = {}
        self._logged: dict[str, int] = {}

    def __call__(self, step: str, done: int, total: int | None) -> None:
        if self._tty:
            from tqdm import tqdm

            bar = self._bars.get(step)
            if bar is None:
                bar = self._bars[step] = tqdm(
                    desc=step, total=total, unit="rec", leave=True, file=sys.stderr
                )
            if total is not None and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)
            return
        # Plain lines: the first, then every 10 % (or every 10,000 records without a total).
        last = self._logged.get(step, -1)
        step_size = max(total // 10, 1) if total else 10_000
        if (
            last < 0
            or done - last >= step_size
            or (total is not None and done == total and last != done)
        ):
            self._logged[step] = done
            log.info("%s: %d%s", step, done, f"/{total}" if total is not None else "")

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
