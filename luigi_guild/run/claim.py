"""Claims: the lock that makes concurrent starts of the same operation and flags take turns.

The lock is a file under ``$GUILD_HOME/locks`` named by the operation and
the flags' identity (:func:`luigi_guild.model.flagid.claim_key`), held with
``flock`` for the whole needed check -> create -> run.
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Callable, Iterator

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError
from luigi_guild.model.flagid import claim_key
from luigi_guild.model.status import Status
from luigi_guild.run.plan import RunPlan
from luigi_guild.store import query
from luigi_guild.store.rundir import Run


def _open_claim(plan: RunPlan) -> int | None:
    """The claim's lock file, open; None on a read-only Guild home (where no run can be made,
    so there is nothing to take turns for: a match still skips, a miss fails to create)."""
    lock_dir = home.locks_dir()
    try:
        os.makedirs(lock_dir, exist_ok=True)
        return os.open(os.path.join(lock_dir, "needed-" + claim_key(plan.opref, plan.flags)), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return None
        raise GuildError("cannot lock %s in %s: %s" % (plan.op_name, lock_dir, e.strerror or e)) from None


def _still_there(fd: int, path: str) -> bool:
    """Whether the lock file ``fd`` is still the file at ``path`` (not removed or replaced)."""
    try:
        st, at = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (at.st_dev, at.st_ino) and st.st_nlink > 0


def _lock(plan: RunPlan, on_wait: Callable[[], None] | None = None) -> int | None:
    """The claim's lock file, open and locked; None on a read-only Guild home.

    A lock on a file that was removed (``GUILD_HOME/locks`` deleted) or
    replaced meanwhile is worth nothing: it is dropped and the file now at
    the path is locked instead, so two starts never both hold "the" claim.
    ``on_wait`` is called once, before the first wait for another holder.
    """
    import fcntl

    path = os.path.join(home.locks_dir(), "needed-" + claim_key(plan.opref, plan.flags))
    while True:
        fd = _open_claim(plan)
        if fd is None:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                    on_wait = None
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _still_there(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


@contextlib.contextmanager
def claim(plan: RunPlan) -> Iterator[None]:
    """Hold an exclusive lock keyed on the operation and its flags.

    Concurrent ``--needed`` starts of the same operation and flags take turns:
    each re-checks after the lock is granted, so only one of them runs.
    """
    fd = _lock(plan)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def _same_runs(plan: RunPlan) -> list[Run]:
    """Runs of the plan's operation with equal flags, whatever their status."""
    return query.same_runs(plan.opref, plan.flags)


@contextlib.contextmanager
def claim_needed(plan: RunPlan) -> Iterator[list[Run]]:
    """``--needed`` under the claim: yields the matching runs (skip when not empty).

    The lock is held for the whole block, so callers check, create and run
    while holding it. As in Guild, a completed, terminated, running or staged
    run with equal flags is a match (error and pending runs are not). A start
    that had to wait re-checks when it gets the lock: a run finished
    meanwhile that completed is a match; if it failed, this start runs once
    more; if two runs finished while it waited failed, it gives up
    (GuildError) instead of trying again, so one failure is retried once and
    not once per waiter.
    """
    before: set[str] | None = None

    def waiting() -> None:
        # Runs finished before we waited; runs in progress count as
        # made while we waited (we are waiting for them).
        nonlocal before
        before = {r.id for r in _same_runs(plan) if r.status not in Status.UNFINISHED}

    fd = _lock(plan, waiting)
    try:
        matches = query.needed_for_new_run(plan.opref, plan.flags)
        if not matches and before is not None:
            failed = [r for r in _same_runs(plan) if r.id not in before and r.status == Status.ERROR]
            if len(failed) >= 2:
                raise GuildError(
                    "%s failed in %d runs started while this one waited (%s); not running it again"
                    % (plan.op_name, len(failed), ", ".join(r.short_id for r in failed)),
                    hint="Use 'guild runs' to see them, then run again to retry.",
                )
        yield matches
    finally:
        if fd is not None:
            os.close(fd)


# ------------------------------------------------------------ staged runs


@contextlib.contextmanager
def status_lock(timeout: float = 30.0) -> Iterator[bool]:
    """The home-wide lock (``locks/run-status``) queues hold while they take a staged run.

    Yields whether the lock was acquired within ``timeout`` seconds.
    """
    import fcntl
    import time

    lock_dir = home.locks_dir()
    os.makedirs(lock_dir, exist_ok=True)
    fd = os.open(os.path.join(lock_dir, "run-status"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)


def take_staged(runs: list[Run], startable: Callable[[Run], bool] | None = None) -> Run | None:
    """Take the first of ``runs`` that is still staged (and ``startable``): it is marked pending.

    Call under :func:`status_lock`. ``PENDING`` names this process and reads
    before ``STAGED``, so no other queue takes the run; a taker that dies
    leaves it reading ``error``, never started twice.
    """
    for listed in runs:
        run = Run(listed.id, listed.path)  # read afresh: another queue may have taken it
        if run.status != Status.STAGED:
            continue
        if startable is not None and not startable(run):
            continue
        run.mark_pending()
        return run
    return None
