"""Progress per step: a bar on a terminal, plain log lines otherwise.

On a terminal the bars stay at the bottom and log lines are printed above them
(``ProgressAwareHandler`` writes through ``tqdm.write`` while a bar is open), so neither
overwrites the other.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import IO, Any

log = logging.getLogger("kam_sync.progress")

# Bars open now, in any StepProgress: log lines go around them while there are any.
_open_bars = 0
_bars_lock = threading.Lock()


def bars_open() -> bool:
    return _open_bars > 0


def _count_bars(delta: int) -> None:
    global _open_bars
    with _bars_lock:
        _open_bars = max(_open_bars + delta, 0)


class ProgressAwareHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The terminal's log handler: while a progress bar is open, a line is written with
    ``tqdm.write``, which clears the bars, prints the line and draws the bars again."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)

    def emit(self, record: logging.LogRecord) -> None:
        if not bars_open():
            super().emit(record)
            return
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=self.stream)
        except Exception:
            self.handleError(record)


class StepProgress:
    """Callable passed to the engine as ``progress(step, done, total, detail=None)``.

    ``total`` is shown where the engine knows it (assess, push); ``detail`` is a short live
    note beside the bar (the push's write calls so far, while a chunk is in flight).
    """

    def __init__(self, *, enabled: bool = True, stream: IO[str] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._tty = enabled and self._stream.isatty()
        self._bars: dict[str, Any] = {}
        self._logged: dict[str, int] = {}

    def __call__(self, step: str, done: int, total: int | None, detail: str | None = None) -> None:
        if self._tty:
            self._draw(step, done, total, detail)
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
            log.info(
                "%s: %d%s",
                step,
                done,
                f"/{total}" if total is not None else "",
                extra={"fields": {"done": done, "total": total}},
            )

    def _draw(self, step: str, done: int, total: int | None, detail: str | None) -> None:
        from tqdm import tqdm

        bar = self._bars.get(step)
        if bar is None:
            bar = self._bars[step] = tqdm(
                desc=step,
                total=total,
                unit="rec",
                leave=True,
                file=self._stream,
            )
            _count_bars(1)
        if total is not None and bar.total != total:
            bar.total = total
        if detail is not None:
            bar.set_postfix_str(detail, refresh=False)
        bar.update(done - bar.n)
        if detail is not None:
            bar.refresh()  # a new detail with the count unchanged is drawn too

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
            _count_bars(-1)
        self._bars.clear()
