"""One run per project at a time.

The lock is an exclusive ``flock`` on ``<project>/state/run.lock``: the kernel releases it
when the process dies, even by ``kill -9``, so a crashed run never blocks the next one. The file
names the holder (host, pid, start time) so a refused run can say who holds it.
"""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from kam_sync.errors import RunLockedError


class RunLock:
    """Context manager holding the project's run lock."""

    def __init__(self, project_root: Path) -> None:
        self.path = project_root / "state" / "run.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise RunLockedError(
                f"another kam-sync run of this project is in progress ({holder}); "
                "try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        os.pwrite(
            fd, f"held by pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode(), 0
        )
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
