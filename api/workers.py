"""The worker processes of one server, as ``/readyz`` must see them: ready only when every one serves.

With several workers the kernel hands each new connection to any of them, so a server whose first
worker is warm while the second still loads would answer some requests ``503 warming_up``. Each worker
therefore marks itself ready with a file ``ready-<pid>`` in a folder the parent made for this run, and
removes it when it stops; a worker counts the markers of live processes (a worker killed without
cleaning up is not counted: its pid is gone).
"""

from __future__ import annotations

import os
from pathlib import Path

_PREFIX = "ready-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerGroup:
    """Readiness markers of a server's workers in one folder.

    :param folder: the run's ``ready`` folder (made by the parent, removed when it exits).
    :param size: how many workers the server runs.
    """

    def __init__(self, folder: str | Path, size: int) -> None:
        self.folder = Path(folder)
        self.size = size
        self._marker = self.folder / f"{_PREFIX}{os.getpid()}"

    def mark_ready(self) -> None:
        """Say that this worker serves."""
        self._marker.touch()

    def mark_gone(self) -> None:
        """Say that this worker no longer serves (it is stopping)."""
        self._marker.unlink(missing_ok=True)

    def ready_count(self) -> int:
        """
        :returns: how many live workers have said they serve.
        """
        count = 0
        for marker in self.folder.glob(f"{_PREFIX}*"):
            pid = marker.name[len(_PREFIX) :]
            if pid.isdigit() and _alive(int(pid)):
                count += 1
        return count

    def all_ready(self) -> bool:
        """
        :returns: whether every worker serves.
        """
        return self.ready_count() >= self.size
