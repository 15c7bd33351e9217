"""Stop a local run: signal the process recorded in ``.guild/LOCK`` and its children.

The process that started the run (``guild run``) survives, sees the child's
signal death and records ``exit_status`` (``-15`` for SIGTERM), so the run
then reads ``terminated``.
"""

from __future__ import annotations

from dataclasses import dataclass

from luigi_guild.store.rundir import Run, pid_alive
from luigi_guild.model.status import Status

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import psutil

CHILD_GRACE = 5.0
DEFAULT_TIMEOUT = 30.0


@dataclass
class StopResult:
    """What happened when stopping one run."""

    run: Run
    pid: int | None
    running: bool
    survivors: list[int]
    parent: int | None = None


def stoppable(run: Run) -> bool:
    """A run stoppable here: running locally (no ``LOCK.remote``) with a live LOCK pid."""
    if run.remote:
        return False
    pid = run.lock_pid()
    return pid is not None and pid_alive(pid) and run.status == Status.RUNNING


def stop_run(run: Run, force: bool = False, timeout: float = DEFAULT_TIMEOUT, no_wait: bool = False) -> StopResult:
    """SIGTERM the run's process, then its remaining children; SIGKILL survivors if ``force``.

    Returns the pids still alive afterwards (empty when everything stopped).
    With ``no_wait`` the run's process and its children get SIGTERM and
    nothing is waited for (no survivors are reported).
    """
    pid = run.lock_pid()
    if run.remote or pid is None or not pid_alive(pid):
        return StopResult(run, pid, False, [])
    parent = parent_pid(pid)
    if no_wait:
        signal_tree(pid)
        return StopResult(run, pid, True, [], parent)
    return StopResult(run, pid, True, stop_pid(pid, force=force, timeout=timeout), parent)


def signal_tree(pid: int) -> None:
    """SIGTERM process ``pid`` and its descendants, without waiting."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    _signal(procs, "terminate")


def parent_pid(pid: int) -> int | None:
    """The process that started the run (it records the exit status)."""
    import psutil

    try:
        return psutil.Process(pid).ppid() or None
    except psutil.Error:
        return None


def stop_pid(pid: int, force: bool = False, timeout: float = DEFAULT_TIMEOUT) -> list[int]:
    """Stop process ``pid`` and its descendants; returns the pids left alive."""
    import psutil

    try:
        proc = psutil.Process(pid)
        children = proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    _signal([proc], "terminate")
    _gone, alive = psutil.wait_procs([proc] + children, timeout=min(CHILD_GRACE, timeout))  # parent first
    # Children that outlived their parent's grace period get their own SIGTERM.
    _signal([p for p in alive if p.pid != pid], "terminate")
    _gone, alive = psutil.wait_procs(alive, timeout=max(timeout - CHILD_GRACE, 0.1)) if alive else ([], [])
    if alive and force:
        _signal(alive, "kill")
        _gone, alive = psutil.wait_procs(alive, timeout=5)
    return sorted(p.pid for p in alive if _really_alive(p))


def _signal(procs: list, method: str) -> None:
    import psutil

    for p in procs:
        try:
            getattr(p, method)()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass


def _really_alive(p: psutil.Process) -> bool:
    return pid_alive(p.pid)


def wait_unlocked(run: Run, runner_pid: int | None = None, timeout: float = 5.0) -> bool:
    """Wait until the runner has recorded the exit and removed ``.guild/LOCK``.

    Returns early when ``runner_pid`` (the process that started the run) is
    gone, as nothing would then remove the LOCK.
    """
    import time

    deadline = time.monotonic() + timeout
    while run.has("LOCK") and time.monotonic() < deadline:
        if runner_pid is not None and not pid_alive(runner_pid):
            return False
        time.sleep(0.05)
    return not run.has("LOCK")
