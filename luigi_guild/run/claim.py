"""Claims: the lock that makes concurrent starts of the same operation and flags take turns.

The lock is a file under ``$GUILD_HOME/locks`` named by the operation and
the flags' identity (:func:`luigi_guild.model.flagid.claim_key`), held with
``flock`` for the whole needed check -> create -> run.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError
from luigi_guild.model.flagid import claim_key
from luigi_guild.model.status import Status
from luigi_guild.run.plan import RunPlan
from luigi_guild.store import query
from luigi_guild.store.rundir import Run


def _open_claim(plan: RunPlan) -> int:
    lock_dir = home.locks_dir()
    try:
        os.makedirs(lock_dir, exist_ok=True)
        return os.open(os.path.join(lock_dir, "needed-" + claim_key(plan.opref, plan.flags)), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise GuildError("cannot lock %s in %s: %s" % (plan.op_name, lock_dir, e.strerror or e)) from None


@contextlib.contextmanager
def claim(plan: RunPlan) -> Iterator[None]:
    """Hold an exclusive lock keyed on the operation and its flags.

    Concurrent ``--needed`` starts of the same operation and flags take turns:
    each re-checks after the lock is granted, so only one of them runs.
    """
    import fcntl

    fd = _open_claim(plan)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _same_runs(plan: RunPlan) -> list[Run]:
    """Runs of the plan's operation with equal flags, whatever their status."""
    return query.same_runs(plan.opref, plan.flags)


@contextlib.contextmanager
def claim_needed(plan: RunPlan) -> Iterator[list[Run]]:
    """``--needed`` under the claim: yields the matching runs (skip when not empty).

    The lock is held for the whole block, so callers check, create and run
    while holding it. A start that had to wait re-checks when it gets the lock:
    a run finished meanwhile that completed is a match; if it failed, this
    start runs once more; if two runs finished while it waited failed, it gives up
    (GuildError) instead of trying again, so one failure is retried once and
    not once per waiter.
    """
    import fcntl

    fd = _open_claim(plan)
    try:
        before: set[str] | None = None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Runs finished before we waited; runs in progress count as
            # made while we waited (we are waiting for them).
            before = {r.id for r in _same_runs(plan) if r.status not in Status.UNFINISHED}
            fcntl.flock(fd, fcntl.LOCK_EX)
        matches = query.needed(plan.opref, plan.flags)
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
