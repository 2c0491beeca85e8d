"""The store folder's cross-process writer lock."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "store.lock"


class FolderLock:
    """An exclusive ``flock`` on a lock file (the store's: ``store.lock``), shared by every process using it.

    SQLite serialises commits by itself; this lock also covers what follows a commit (the FAISS file and
    the derived lexical index), so two processes serving one store (``chronorag serve`` with several
    workers) never interleave their writes or number two commits with the same generation. Re-entrant in
    the thread that holds it; a no-op where ``fcntl`` is missing (one process per store there).
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mutex = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._mutex:
            if self._depth == 0 and fcntl is not None:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fd, self._fd = self._fd, None
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
