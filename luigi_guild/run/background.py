"""Start a run detached from the terminal (``guild run --background``).

The run survives the caller's exit and a closed SSH session: a forked child
leaves the session, writes an optional pidfile and runs the operation as its
direct parent; the caller returns once the run's LOCK exists.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable

from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import Run


def fork_flushed() -> int:
    """``os.fork()`` once this process's buffered output is written (so the child does not repeat it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    return os.fork()


def leave_session() -> None:
    """In a forked child: a session of its own, standard streams on /dev/null (a daemon's start)."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def start_detached(run: Run, start: Callable[[], int], pidfile: str | None, wait: float = 30.0) -> None:
    """Fork; the child runs ``start()`` in a new session; the parent waits for the LOCK."""
    pid = fork_flushed()
    if pid == 0:  # pragma: no cover - runs in the forked child
        code = 1
        try:
            leave_session()
            if pidfile:
                with open(pidfile, "w") as f:
                    f.write(str(os.getpid()))
            code = start()
        finally:
            if pidfile:
                try:
                    os.remove(pidfile)
                except OSError:
                    pass
            os._exit(code & 0xFF if code >= 0 else 128 - code)
    deadline = time.time() + wait
    lock = run.guild_path("LOCK")
    while time.time() < deadline:
        if os.path.exists(lock) or run.get("exit_status") is not None:
            return
        done, status = os.waitpid(pid, os.WNOHANG)
        if done and not os.path.exists(lock) and run.get("exit_status") is None:
            raise GuildError("run %s did not start" % run.id)
        time.sleep(0.02)
    raise GuildError("run %s did not start within %d seconds" % (run.id, wait))
