"""The sweep driver: plans a sweep's trials, hands them to an executor and counts their outcomes.

Trials come from an optimizer (:mod:`luigi_guild.sweeps.optimizers`), all
of them up front. A sweep is recorded as a batch run (``<op>+`` or
``<op>+random``, see :mod:`luigi_guild.sweeps.batch`) whose trials are
ordinary runs of the operation, handed as jobs to an executor
(:mod:`luigi_guild.run.executors`; the CLI uses Luigi's) in chunks, so that
scheduling cost grows linearly with the number of trials; ``--needed`` is
answered from one process-wide run index.

Importing this module does not import Luigi.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError
from luigi_guild.model.opref import OpRef
from luigi_guild.model.flagid import equality_text, flags_equal
from luigi_guild.model.outcome import Outcome
from luigi_guild.model.status import Status
from luigi_guild.run.executors import Executor, InlineExecutor, Job
from luigi_guild.run.pipeline import RunOptions
from luigi_guild.run.plan import RunPlan
from luigi_guild.store.rundir import Run
from luigi_guild.sweeps.batch import create_batch_run, finish_batch_run, link_trial
from luigi_guild.sweeps.optimizers import trial_values
from luigi_guild.sweeps.trials import SweepSpec, flags_desc, is_function

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.store.index import RunIndex

CHUNK_SIZE = 100

# ------------------------------------------------------ shared sweep state


class SweepState:
    """Counters and the stop flag of one sweep, shared with forked Luigi workers."""

    def __init__(self, total: int, fail_fast: bool, progress: bool):
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.total = total
        self.fail_fast = fail_fast
        self.progress = progress
        self.done = ctx.Value("i", 0)
        self.failed = ctx.Value("i", 0)
        self.stop = ctx.Value("i", 0)  # >0: stop starting trials; signal number, or -1 after a failure

    def record(self, ok: bool) -> None:
        with self.done.get_lock():
            self.done.value += 1
            if not ok:
                self.failed.value += 1
            done, failed = self.done.value, self.failed.value
        if self.progress:
            sys.stderr.write("trial %d/%d, %d failed\n" % (done, self.total, failed))
            sys.stderr.flush()

    def request_stop(self, reason: int) -> None:
        with self.stop.get_lock():
            if not self.stop.value:
                self.stop.value = reason

    @property
    def stopped(self) -> int:
        return self.stop.value


_states: dict[str, SweepState] = {}


def state_for(batch_dir: str) -> SweepState | None:
    return _states.get(batch_dir)


# ------------------------------------------------------------------ driver


@dataclass
class SweepOptions:
    """What ``guild run`` asks of a sweep besides the trials."""

    needed: bool = False
    fail_on_trial_error: bool = False
    keep_batch: bool = False
    workers: int = 1
    quiet: bool = False
    label: str | None = None
    tags: list[str] = field(default_factory=list)
    force_flags: bool = False
    chunk_size: int = CHUNK_SIZE


@dataclass
class SweepResult:
    total: int
    ran: int
    skipped: int
    failed: int
    not_run: int
    interrupted: int
    batch: Run
    optimizer: str


def plan_trials(plan: Any, spec: SweepSpec, force_flags: bool = False) -> tuple[str, list[dict[str, Any]], int | None]:
    """Trial flag values resolved and checked against the operation (before anything is created)."""
    optimizer, raw, seed = trial_values(plan.flags, spec)
    opdef = plan.opdef
    flagdefs = opdef.flags if opdef is not None else {}
    trials = []
    for values in raw:
        if any(isinstance(v, list) or is_function(v) for v in values.values()):
            bad = sorted(k for k, v in values.items() if isinstance(v, list) or is_function(v))
            raise GuildError("cannot expand flag %s in a batch file trial" % ", ".join(bad))
        trials.append(flagslib.resolve_values(flagdefs, values, force_flags=force_flags, op_name=plan.op_name))
    return optimizer, trials, seed


def run_sweep(
    plan: Any,
    spec: SweepSpec,
    opts: SweepOptions,
    planned: tuple[str, list[dict[str, Any]], int | None] | None = None,
    executor: Executor | None = None,
) -> SweepResult:
    """Run a sweep of ``plan``'s operation with ``executor`` (default: inline); returns counts.

    The batch run is finished when this returns. ``planned`` is
    :func:`plan_trials`'s result when the caller already has it.
    """
    from luigi_guild.store import query

    optimizer, trials, seed = planned or plan_trials(plan, spec, opts.force_flags)
    executor = executor or InlineExecutor()
    opdef = plan.opdef
    attrs: dict[str, Any] = {"max_trials": len(trials)}
    if optimizer == "random":
        attrs["random_seed"] = seed
    batch = create_batch_run(plan.opref, plan.flags, optimizer, attrs)
    state = SweepState(len(trials), opts.fail_on_trial_error, sys.stderr.isatty())
    _states[batch.path] = state
    if isinstance(executor, InlineExecutor):
        executor.stop = lambda: bool(state.stopped)
    index = query.shared_index()
    skipped = 0
    try:
        operation = opdef.name if opdef.opref.pkg_type == "guildfile" else opdef.opref.op_name
        for start in range(0, len(trials), max(1, opts.chunk_size)):
            if state.stopped:
                break
            chunk = trials[start : start + opts.chunk_size]
            jobs: list[Job] = []

            def flush() -> None:
                # Trials run in order; a skip is logged where its trial stands.
                if jobs:
                    executor.execute(jobs)
                    jobs.clear()

            for values in chunk:
                if opts.needed and index.needed(plan.opref, values):
                    flush()
                    if state.stopped:
                        break
                    skipped += 1
                    _log("Skipping trial: %s (%s) - a matching run exists (--needed specified)" % (plan.op_name, flags_desc(values)))
                    continue
                jobs.append(_trial_job(plan, operation, values, batch, opts))
            flush()
    except BaseException:
        finish_batch_run(batch, 1, keep=True)
        raise
    finally:
        _states.pop(batch.path, None)
    result = _tally(batch, trials, plan.opref, opts, skipped, state, optimizer)
    ok = not result.failed and not result.not_run and not result.interrupted
    finish_batch_run(batch, 0 if ok else 1, keep=opts.keep_batch)
    return result


def _trial_job(plan: Any, operation: str, values: dict[str, Any], batch: Run, opts: SweepOptions) -> Job:
    """One trial as a job: its own plan, and the options every trial runs with."""
    from luigi_guild.run.plan import plan_new

    opdef = plan.opdef
    trial_plan = plan_new(
        operation,
        cwd=opdef.project_dir,
        opdef=opdef,
        values=values,
        force_flags=opts.force_flags,
        label=opts.label,
        tags=list(opts.tags),
    )
    return Job(
        plan=trial_plan,
        opts=trial_options(batch.path, opts.needed, opts.quiet),
        operation=operation,
        project_dir=opdef.project_dir,
        batch=batch.path,
        extra={"needed": opts.needed, "run_key": "" if opts.needed else batch.id, "label": opts.label, "tags": list(opts.tags),
               "quiet": opts.quiet, "force_flags": opts.force_flags},
    )


def trial_options(batch_dir: str, needed: bool, quiet: bool, whole_lines: bool = False) -> RunOptions:
    """How a trial of the sweep whose batch run is ``batch_dir`` runs (inline or in a Luigi worker).

    Trials always claim: with ``needed`` a matching run made meanwhile skips
    the trial. Each trial links itself to the batch, logs its start, and
    records its outcome in the sweep's shared state.
    """
    from luigi_guild.model.outcome import OutcomeKind
    from luigi_guild.run import process
    from luigi_guild.store import query

    state = state_for(batch_dir)
    interrupts_before = [0]

    def matched(plan: RunPlan) -> bool:
        return bool(query.shared_index().needed(plan.opref, plan.flags))

    def on_created(run: Run, plan: RunPlan) -> None:
        if os.path.isdir(batch_dir):
            link_trial(batch_dir, run)
        _log("Running trial %s: %s (%s)" % (run.id, plan.op_name, flags_desc(plan.flags)))
        interrupts_before[0] = len(process.interrupts)

    def on_finished(outcome: Outcome) -> None:
        if outcome.kind != OutcomeKind.FINISHED or outcome.run is None:
            return
        ok = outcome.exit_status == 0
        if state is not None:
            if len(process.interrupts) > interrupts_before[0]:
                state.request_stop(process.interrupts[-1])
            elif not ok and state.fail_fast:
                state.request_stop(-1)
            state.record(ok)
        if not ok:
            _log_warning("Trial %s failed with exit status %s" % (outcome.run.id, outcome.exit_status))

    return RunOptions(
        claim=True,
        echo=not quiet,
        whole_lines=whole_lines,
        already_done=matched if needed else None,
        on_created=on_created,
        on_finished=on_finished,
    )


def _done_elsewhere(index: RunIndex, opref: OpRef, values: dict[str, Any], since: int) -> bool:
    """Whether another process made an available run of this trial (since ``since``, in us)."""
    return any(r.timestamp >= since for r in index.needed(opref, values))


def wait_for_others(batch_dir: str, trials: list[dict[str, Any]], opref: OpRef) -> None:
    """Central scheduler: wait while trials handed over are running in another process.

    Luigi's worker returns as soon as nothing is left for *it* to run; the
    sweep is finished only when those trials are finished too.
    """
    import time

    from luigi_guild.store import query

    state = state_for(batch_dir)
    batch = Run.for_dir(batch_dir)
    linked = set(os.listdir(batch_dir))
    index = query.shared_index()
    since = batch.timestamp
    while state is None or not state.stopped:
        index.refresh()
        busy = False
        for values in trials:
            runs = index.same(opref, values)
            if any(r.id in linked for r in runs) or _done_elsewhere(index, opref, values, since):
                continue
            if any(r.status in Status.UNFINISHED for r in runs):
                busy = True
                break
        if not busy:
            return
        time.sleep(0.2)


def _tally(
    batch: Run, trials: list[dict], opref: OpRef, opts: SweepOptions, skipped: int, state: SweepState, optimizer: str
) -> SweepResult:
    """Count outcomes from the run directories (the truth), not from Luigi's view."""
    from luigi_guild.store import query

    linked: dict[str, list[tuple[dict[str, Any], str]]] = {}
    for name in os.listdir(batch.path):
        path = os.path.join(batch.path, name)
        if name.startswith(".") or not os.path.islink(path):
            continue
        run = Run(name, os.path.realpath(path))
        run_flags = run.flags
        linked.setdefault(equality_text(run_flags), []).append((run_flags, run.status))
    index = query.shared_index()
    index.refresh()
    ran = failed = not_run = 0
    for values in trials:
        bucket = linked.get(equality_text(values), [])
        hit = next((i for i in range(len(bucket) - 1, -1, -1) if flags_equal(bucket[i][0], values)), None)
        if hit is not None:
            _flags, status = bucket.pop(hit)
            ran += 1
            if status not in Status.AVAILABLE:
                failed += 1
        elif opts.needed and index.needed(opref, values):
            continue
        elif not _done_elsewhere(index, opref, values, batch.timestamp):
            not_run += 1
    interrupted = state.stopped if state.stopped > 0 else 0
    return SweepResult(len(trials), ran, skipped, failed, not_run, interrupted, batch, optimizer)


def _log(msg: str) -> None:
    sys.stderr.write("INFO: [guild] %s\n" % msg)
    sys.stderr.flush()


def _log_warning(msg: str) -> None:
    sys.stderr.write("WARNING: [guild] %s\n" % msg)
    sys.stderr.flush()
