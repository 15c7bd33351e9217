"""Follow a run's ``.guild/output`` while its process lives."""

from __future__ import annotations

import os
import time
from typing import BinaryIO, Callable

from luigi_guild.store.rundir import Run, open_beneath, pid_alive
from luigi_guild.model.status import Status

POLL = 0.1
EXIT_STATUS_WAIT = 5.0
STALE_LOCK_WAIT = 1.0


def latest_running(runs: list[Run]) -> Run | None:
    """The newest run that is running locally (not on a remote)."""
    for run in runs:
        if not run.remote and run.status == Status.RUNNING:
            return run
    return None


def watch(run: Run, out: BinaryIO, pid: int | None = None, sleep: Callable[[float], None] = time.sleep) -> str:
    """Copy the run's output to ``out``: live until its LOCK process ends, else all of it.

    With ``pid`` (a ``guild run`` process started in the background), also
    follows until that process ends. Returns the run's status once it has stopped (waiting briefly for the
    runner to record ``exit_status``).
    """
    pos = 0
    seen_alive = False
    while True:
        lock_pid = run.lock_pid()
        alive = lock_pid is not None and pid_alive(lock_pid) and not run.remote
        alive = alive or (pid is not None and pid_alive(pid))
        pos = _copy_new(run.path, pos, out)
        if not alive:
            break
        seen_alive = True
        sleep(POLL)
    # The runner writes exit_status just after the child ends; give it a moment.
    # A run seen dead at the first look may still be finishing: wait less then.
    deadline = time.monotonic() + (EXIT_STATUS_WAIT if seen_alive else STALE_LOCK_WAIT)
    while run.get("exit_status") is None and run.has("LOCK") and time.monotonic() < deadline:
        sleep(POLL)
    _copy_new(run.path, pos, out)
    return run.status


def _copy_new(run_dir: str, pos: int, out: BinaryIO) -> int:
    try:
        fd = open_beneath(run_dir, ".guild/output")
    except OSError:  # missing yet, or not a regular file inside the run: nothing to copy
        return pos
    with os.fdopen(fd, "rb") as f:
        f.seek(pos)
        while True:
            chunk = f.read(65536)
            if not chunk:
                break
            out.write(chunk)
            pos += len(chunk)
    out.flush()
    return pos
