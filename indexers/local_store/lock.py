"""The store folder's cross-process locks: the writer lock around writes and saves, and writer presence."""

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


def _locked(path: Path, operation: int) -> int:
    """A descriptor of ``path`` (created if missing) holding ``flock(operation)``, waiting for it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, operation)
    except BaseException:
        os.close(fd)
        raise
    return fd


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
                self._fd = _locked(self._path, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fd, self._fd = self._fd, None
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)


WRITER_FILE = "store.writer"


class WriterPresence:
    """A shared ``flock`` on ``store.writer`` held by every process that has the store open for writing,
    from opening to closing it (the kernel drops it when the process dies, ``kill -9`` included).

    The folder lock is held only around a write or a save, so it cannot say whether a writer is alive;
    this can: :func:`writers_present` asks for the exclusive lock without waiting, which any holder refuses.
    ``chronorag store check`` uses it to tell a save the writer still owes from one nobody will make, and
    ``chronorag store recover`` holds the exclusive lock while it swaps files, so no writer opens the store
    half-way (a writer that opens then waits for it). A no-op where ``fcntl`` is missing.
    """

    def __init__(self, folder: Path) -> None:
        self._fd: int | None = None
        if fcntl is not None:
            self._fd = _locked(folder / WRITER_FILE, fcntl.LOCK_SH)

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


@contextlib.contextmanager
def writers_excluded(folder: Path) -> Iterator[bool]:
    """
    Hold ``store.writer`` exclusively, if no process has the store open for writing.

    :param folder: the store folder.
    :returns: a context yielding ``True`` while held (writers that open meanwhile wait), ``False`` when a
        writer has the store open (nothing is held then).
    """
    fd = _open_writer_file(folder)
    if fd is None:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _open_writer_file(folder: Path) -> int | None:
    """``store.writer`` opened for locking; ``None`` when no writer can hold it (no fcntl, no file that a
    writer would have created, a folder this process may not write, where it is opened read-only)."""
    path = folder / WRITER_FILE
    if fcntl is None or not folder.is_dir():
        return None
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        return os.open(path, os.O_RDONLY) if path.exists() else None


def writers_present(folder: Path) -> bool:
    """:returns: whether a process has the store in ``folder`` open for writing (:class:`WriterPresence`)."""
    with writers_excluded(folder) as excluded:
        return not excluded
