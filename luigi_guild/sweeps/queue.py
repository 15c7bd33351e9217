"""The built-in ``queue`` operation: starts staged runs one at a time, oldest first.

A queue is a run of its own (opref ``builtin:guildai <version> '' queue``,
listed as ``queue``, with an empty ``.guild/proto`` as Guild makes it). Each
poll takes the home-wide status lock, marks the oldest startable staged run
pending (:func:`luigi_guild.run.claim.take_staged`), releases the lock and
starts the run through the one run pipeline. Several queues sharing a Guild
home therefore never start the same run twice.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any, Callable

from luigi_guild import __version__
from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError
from luigi_guild.model.opref import OpRef
from luigi_guild.model.status import Status
from luigi_guild.store.rundir import Run, now_us

FLAG_DEFAULTS: dict[str, Any] = {"gpus": None, "poll-interval": 10, "run-once": False, "wait-for-running": False}
_FLAGDEFS = {
    "gpus": flagslib.FlagDef("gpus", type="string", description="GPUs the started runs use"),
    "poll-interval": flagslib.FlagDef("poll-interval", type="int", default=10, min=0,
                                      description="Seconds between polls for staged runs"),
    "run-once": flagslib.FlagDef("run-once", type="boolean", default=False,
                                 description="Start the staged runs there are now, then stop"),
    "wait-for-running": flagslib.FlagDef("wait-for-running", type="boolean", default=False,
                                         description="Start nothing while other runs are running"),
}


def is_queue(opspec: str | None) -> bool:
    """Whether ``opspec`` names the built-in queue operation."""
    return opspec == "queue"


def queue_opref() -> OpRef:
    return OpRef("builtin", "guildai", __version__, "", "queue")


def resolve_flags(assigns: dict[str, str]) -> dict[str, Any]:
    """The queue's flag values: defaults overlaid with ``NAME=VAL`` assigns, checked."""
    values = flagslib.resolve_flags(_FLAGDEFS, assigns, op_name="queue")
    values.setdefault("gpus", None)
    return values


def label(flags: dict[str, Any]) -> str:
    """``poll-interval=10 run-once=yes wait-for-running=no`` (null flags omitted)."""
    return flagslib.default_label(flags)


def create_queue_run(flags: dict[str, Any]) -> Run:
    """Create the queue's run (pending until :func:`serve` takes it over)."""
    from luigi_guild.run import create
    from luigi_guild.run.plan import RunPlan

    plan = RunPlan(
        opref=queue_opref(),
        op_attr={"delete-on-success": False},
        flags=flags,
        user_flags=flags,
        label=label(flags),
        project_dir=None,
        run_params={},
    )
    run = create.create_run(plan)
    os.makedirs(os.path.join(run.path, ".guild", "proto"), exist_ok=True)
    return run


def _log(msg: str) -> None:
    sys.stderr.write("INFO: [guild] %s %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), msg))
    sys.stderr.flush()


def _is_queue_run(run: Run) -> bool:
    try:
        opref = run.opref
    except (OSError, ValueError):
        return False
    return opref.pkg_type == "builtin" and opref.op_name == "queue"


class Queue:
    """One queue's loop over staged runs; :meth:`serve` runs it in this process."""

    def __init__(self, run: Run, flags: dict[str, Any], log: Callable[[str], None] = _log):
        self.run = run
        self.poll_interval = max(0, int(flags.get("poll-interval") or 0))
        self.run_once = bool(flags.get("run-once"))
        self.wait_for_running = bool(flags.get("wait-for-running"))
        self.gpus = flags.get("gpus")
        self.log = log
        self.stopping = False
        self.started: list[str] = []
        self.failed = 0
        self.progress = sys.stderr.isatty()  # a progress line after each run, on a terminal

    # ----------------------------------------------------------- picking

    def _staged(self) -> list[Run]:
        from luigi_guild.store import query

        runs = [r for r in query.list_runs() if r.status == Status.STAGED]
        return sorted(runs, key=lambda r: (r.timestamp, r.id))

    def _gpus_match(self, run: Run) -> bool:
        params = run.get("run_params") or {}
        want = params.get("gpus") if isinstance(params, dict) else None
        if want is None or self.gpus is None or str(want) == str(self.gpus):
            return True
        self.log("Ignorning staged run %s (GPU spec mismatch: run is %s, queue is %s)" % (run.id, want, self.gpus))
        return False

    def _running_others(self) -> list[Run]:
        from luigi_guild.store import query

        return [r for r in query.list_runs() if r.status == Status.RUNNING and r.id != self.run.id and not _is_queue_run(r)]

    def startable(self) -> list[Run]:
        """Staged runs, oldest first; empty while ``wait-for-running`` waits for other runs."""
        staged = self._staged()
        if staged and self.wait_for_running:
            busy = self._running_others()
            if busy:
                self.log("Found staged run %s (waiting for runs to finish: %s)"
                         % (staged[0].id, ", ".join(r.id for r in busy)))
                return []
        return staged

    def claim(self, staged: list[Run]) -> Run | None:
        """The first of ``staged`` still staged (and for this queue's GPUs), marked pending; None if none is."""
        from luigi_guild.run import claim
        from luigi_guild.model import home

        with claim.status_lock() as locked:
            if not locked:
                lock = os.path.join(home.locks_dir(), "run-status")
                sys.stderr.write("WARNING: could not acquire lock for reading staged runs\n"
                                 "If this error persists, try stopping all queues and deleting %s\n" % lock)
                return None
            return claim.take_staged(staged, self._gpus_match)

    def take(self) -> Run | None:
        """The next staged run, marked pending for this queue; None when there is none to start now."""
        staged = self.startable()
        return self.claim(staged) if staged else None

    def drain(self) -> int:
        """Start what is staged now (here: the oldest one); returns how many runs this queue started."""
        run = self.take()
        if run is None:
            return 0
        self.start(run)
        return 1

    # ----------------------------------------------------------- starting

    def start(self, run: Run) -> None:
        from luigi_guild.run import pipeline, process
        from luigi_guild.run.pipeline import RunOptions
        from luigi_guild.run.plan import plan_restart

        self.log("Starting staged run %s" % run.id)
        self.started.append(run.id)
        before = len(process.interrupts)
        try:
            plan = plan_restart(run.id, {})
            pipeline.execute(plan, RunOptions(echo=True, launch=True))
        except GuildError as e:
            sys.stderr.write("ERROR: [guild] error starting run %s: %s\n" % (run.id, e.message))
            if run.has("PENDING"):
                run.remove("PENDING")  # still staged: another queue (or this one) may try again
        sys.stdout.flush()
        if len(process.interrupts) > before:
            self.stopping = True
        if Run.for_dir(run.path).status not in Status.AVAILABLE:
            self.failed += 1
        if self.progress:
            from luigi_guild.sweeps.progress import progress_line

            # Of the runs this queue started and those still staged (which another queue may take).
            progress_line(len(self.started), len(self.started) + len(self._staged()), self.failed, noun="runs")

    # ----------------------------------------------------------- loop

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stopping = True

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))

    def serve(self) -> int:
        """Start staged runs until stopped (or, with run-once, until none is left); returns 0."""
        from luigi_guild.run import process

        self.run.write_attr("started", now_us())
        process.write_lock(self.run, os.getpid())
        self.run.remove("PENDING")
        old = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        t0 = time.monotonic()
        try:
            self.log("Starting queue")
            if self.run_once:
                self.log("Processing staged runs")
            waiting = False
            while not self.stopping:
                if not self.drain():
                    if self.run_once:
                        break
                    if not waiting:
                        self.log("Waiting for staged runs")
                        waiting = True
                    self._sleep(self.poll_interval or 0.1)
                    continue
                waiting = False
            if self.run_once:
                self.log("queue processed %d run(s) in %f seconds" % (len(self.started), time.monotonic() - t0))
            self.log("Stopping queue")
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            self.run.write_attr("exit_status", 0)
            self.run.write_attr("stopped", now_us())
            self.run.remove("LOCK")
        return 0
