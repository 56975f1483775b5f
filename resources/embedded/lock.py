"""One owner per state directory: ``AIETL_HOME/.lock``, held with ``flock`` for as long as the embedded services run.

The kernel releases the lock when its process ends, however it ends, so a killed ``aietl demo`` never blocks the next
one. The file names its holder (pid, command, start time) so that a second command can say who has the directory.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

LOCK_FILE = ".lock"


class StateDirectoryInUseError(RuntimeError):
    """Another process holds the state directory; the message names it."""


class StateLock:
    def __init__(self, home: Path):
        self.path = Path(home) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> StateLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", errors="replace").strip() or "another process"
            os.close(fd)
            raise StateDirectoryInUseError(
                f"state directory {self.path.parent} is in use by {holder}; it is left running. Stop it first, or "
                "set AIETL_HOME to another directory (with other AIETL_PG_PORT and AIETL_KAFKA_PORT)") from None
        command = " ".join(Path(arg).name if i == 0 else arg for i, arg in enumerate(sys.argv)) or "python"
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} (`{command}`, since {time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.ftruncate(fd, 0)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None
