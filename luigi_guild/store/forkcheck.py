"""Stamp checks in a forked child: the caller goes on with its work while a second core stats files.

Checking a warm cache is a few ``stat`` calls per run; with thousands of runs
that is worth handing to a child process (made by ``fork``, so it sees the
caller's data as it was) that writes one byte per checked entry into a pipe.
The caller reads them when it needs them; if the child fails, the caller gets
None and checks the entries itself.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs milliseconds to import: annotations only
if TYPE_CHECKING:
    from typing import Callable


def usable() -> bool:
    """Whether a child would run beside the caller: a second core, ``fork``, and no other thread."""
    import threading

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cpus >= 2 and threading.active_count() == 1 and hasattr(os, "fork")


class Child:
    """A forked child computing ``work()``; :meth:`result` waits for its bytes."""

    def __init__(self, pid: int, fd: int):
        self.pid = pid
        self.fd = fd

    def result(self, n: int) -> bytes | None:
        """The child's bytes, or None when it did not give exactly ``n`` of them. Call once."""
        chunks = []
        try:
            while True:
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError:
            chunks = []
        finally:
            os.close(self.fd)
        try:
            _, status = os.waitpid(self.pid, 0)
        except OSError:
            status = 1
        data = b"".join(chunks)
        return data if status == 0 and len(data) == n else None


def start(work: Callable[[], bytes]) -> Child | None:
    """A child writing ``work()`` (stats and a pipe write only: never a SQLite connection or
    anything else the caller holds open); None when no child was made (see :func:`usable`)."""
    if not usable():
        return None
    try:
        r, w = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid == 0:  # the child
        code = 1
        try:
            os.close(r)
            data = memoryview(work())
            while data:
                data = data[os.write(w, data) :]
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    return Child(pid, r)
