"""The sweep driver: plans a sweep's trials, hands them to an executor and counts their outcomes.

Trials come from an optimizer (:mod:`luigi_guild.sweeps.optimizers`), all
of them up front. A sweep is recorded as a batch run (``<op>+`` or
``<op>+random``, see :mod:`luigi_guild.sweeps.batch`) whose trials are
ordinary runs of the operation, handed as jobs to an executor
(:mod:`luigi_guild.run.executors`; the CLI uses the thread ``pool``, or
Luigi's with a central scheduler) in chunks, so that
scheduling cost grows linearly with the number of trials; ``--needed`` is
answered from one process-wide run index.

Importing this module does not import Luigi.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError
from luigi_guild.model.opref import OpRef
from luigi_guild.model.flagid import equality_text, flags_equal
from luigi_guild.model.outcome import Outcome
from luigi_guild.model.status import Status
from luigi_guild.run import create
from luigi_guild.run.executors import Executor, InlineExecutor, Job, PoolExecutor
from luigi_guild.run.pipeline import RunOptions
from luigi_guild.run.plan import RunPlan
from luigi_guild.store.rundir import Run
from luigi_guild.sweeps import learners as _learners  # noqa: F401 - registers the optimizers that learn
from luigi_guild.sweeps.batch import (
    append_output, batch_opref, create_batch_run, finish_batch_run, link_trial, reopen_batch_run,
    stage_batch_run,
)
from luigi_guild.sweeps.optimizers import trial_values
from luigi_guild.sweeps.trials import SweepSpec, flags_desc, is_function

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.store.index import RunIndex

CHUNK_SIZE = 100
_index_lock = threading.Lock()

# ------------------------------------------------------ shared sweep state


class SweepState:
    """Counters and the stop flag of one sweep, shared with pool threads and forked Luigi workers."""

    def __init__(self, total: int, fail_fast: bool, progress: bool):
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.total = total
        self.fail_fast = fail_fast
        self.progress = progress
        self.done = ctx.Value("i", 0)
        self.failed = ctx.Value("i", 0)
        self.stop = ctx.Value("i", 0)  # >0: stop starting trials; signal number, or -1 after a failure
        self.fail_code = ctx.Value("i", 0)  # exit status of the trial that stopped the sweep (--fail-on-trial-error)
        self.best: float | None = None
        self.best_label = ""
        self.best_of = min

    def record(self, ok: bool, objective: tuple[str, float] | None = None) -> None:
        """Count a finished trial; ``objective`` is (column, value) for sweeps that learn."""
        with self.done.get_lock():
            self.done.value += 1
            if not ok:
                self.failed.value += 1
            done, failed = self.done.value, self.failed.value
        if objective is not None:
            self.best_label = objective[0]
            self.best = objective[1] if self.best is None else self.best_of(self.best, objective[1])
        if self.progress:
            from luigi_guild.sweeps.progress import progress_line

            progress_line(done, self.total, failed, self.best_label, self.best)

    def request_stop(self, reason: int, code: int = 0) -> bool:
        """Ask the sweep to start no more trials; True for the request that stopped it."""
        with self.stop.get_lock():
            if self.stop.value:
                return False
            self.stop.value = reason
            self.fail_code.value = code
            return True

    @property
    def failed_code(self) -> int:
        """The exit status of the trial that stopped the sweep (--fail-on-trial-error), else 0."""
        return self.fail_code.value if self.stop.value == -1 else 0

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
    # The batch run's own label (a template over the optimizer's flags) and tags.
    batch_label: str | None = None
    batch_tags: list[str] = field(default_factory=list)
    batch_comment: str | None = None
    force_flags: bool = False
    stage_trials: bool = False
    # ``--stage``: create the batch run and leave it pending (``guild run --start`` runs it).
    stage_batch: bool = False
    # ``--run-id``: the batch run's id (a sweep step of a steps run).
    run_id: str | None = None
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
    # Optimizers that learn: the trial with the best objective, and its value.
    best_run: Run | None = None
    best_value: float | None = None
    # --fail-on-trial-error: the exit status of the trial that stopped the sweep (0: none did).
    fail_code: int = 0


def plan_trials(plan: Any, spec: SweepSpec, force_flags: bool = False) -> tuple[str, list[dict[str, Any]], int | None]:
    """Trial flag values resolved and checked against the operation (before anything is created).

    An optimizer that learns chooses its trials as results come in: its
    trial list is empty here, and its search space is checked.
    """
    learner = _learner(spec)
    if learner is not None:
        import random

        from luigi_guild.sweeps import learners

        if spec.max_trials is not None and spec.max_trials < 1:
            raise GuildError("invalid --max-trials %d: expected a positive number" % spec.max_trials)
        if spec.batch_files:
            raise GuildError("batch files cannot be used with optimizer %s" % learner.name)
        learners.search_space(learners.encode_flagdefs(plan.opdef, plan.flags, plan.user_flags))
        learner_seed = spec.random_seed if spec.random_seed is not None else random.SystemRandom().randrange(2**31)
        return learner.name, [], learner_seed
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
    batch: Run | None = None,
) -> SweepResult:
    """Run a sweep of ``plan``'s operation with ``executor`` (default: inline); returns counts.

    The batch run is finished when this returns. ``planned`` is
    :func:`plan_trials`'s result when the caller already has it. ``batch``
    is an existing batch run to start again (``--restart``): its trials
    are added to it, and it is kept unless ``opts.keep_batch`` is false.
    """
    from luigi_guild.store import query

    optimizer, trials, seed = planned or plan_trials(plan, spec, opts.force_flags)
    executor = executor or InlineExecutor()
    if _learner(spec) is not None:
        assert seed is not None
        return _run_learning(plan, spec, opts, executor, seed, batch)
    opdef = plan.opdef
    attrs: dict[str, Any] = {"max_trials": len(trials)}
    if seed is not None:
        # Every batch keeps its seed, as Guild's do: a restart draws the same random trials and grid sample.
        attrs["random_seed"] = seed
    if opts.stage_trials:
        attrs["stage_trials"] = True
    if batch is not None:
        reopen_batch_run(batch, plan, attrs)
    else:
        batch = create_batch_run(plan, optimizer, attrs, label=opts.batch_label, tags=opts.batch_tags,
                                 delete_on_success=not opts.keep_batch, run_id=opts.run_id,
                                 comment=opts.batch_comment)
        if spec.trial_rows is not None:
            # As Guild keeps them: the rows of the batch files, for a restart of the batch.
            Run.for_dir(batch.guild_path("proto")).write_attr("trials", spec.trial_rows)
    if opts.stage_batch:
        stage_batch_run(batch)
        return SweepResult(len(trials), 0, 0, 0, 0, 0, batch, optimizer)
    if opts.stage_trials:
        return _stage_trials(plan, trials, batch, opts, optimizer)
    state = SweepState(len(trials), opts.fail_on_trial_error, sys.stderr.isatty())
    _states[batch.path] = state
    if isinstance(executor, (InlineExecutor, PoolExecutor)):
        executor.stop = lambda: bool(state.stopped)
    index = query.shared_index()
    skipped = 0
    from luigi_guild.run import process

    # A signal stops the sweep: no new trials start, the running ones get the
    # signal (in worker processes too) and end ``terminated``; then we exit 128 + signal.
    def stop_on_signal(signum: int) -> None:
        state.request_stop(signum)

    passing_on = process.passing_signals_on(stop_on_signal)
    passing_on.__enter__()
    try:
        operation = opdef.name if opdef.opref.pkg_type == "guildfile" else opdef.opref.op_name
        # This process's executors take jobs one at a time from an iterable: each trial is planned
        # as a worker takes it, so the first starts at once and no chunk boundary leaves a worker
        # idle while the next chunk is planned. With --needed, trials go in chunks checked as a
        # chunk is handed over, a skipped trial's line where it stands in the log.
        local = executor if isinstance(executor, (InlineExecutor, PoolExecutor)) and not opts.needed else None
        if local is not None:
            local.execute(_trial_job(plan, operation, values, batch, opts, n) for n, values in enumerate(trials))
        for start in range(0, len(trials) if local is None else 0, max(1, opts.chunk_size)):
            if state.stopped:
                break
            chunk = trials[start : start + opts.chunk_size]
            jobs: list[Job] = []

            def flush() -> None:
                # Trials run in order; a skip is logged where its trial stands.
                if jobs:
                    executor.execute(jobs)
                    jobs.clear()

            for n, values in enumerate(chunk, start):
                if opts.needed and index.needed(plan.opref, values):
                    if executor.in_order:
                        flush()
                    if state.stopped:
                        break
                    skipped += 1
                    line = "Skipping trial: %s (%s) - a matching run exists (--needed specified)" % (
                        plan.op_name, flags_desc(values))
                    append_output(batch.path, b"INFO: [guild] %s\n" % line.encode())
                    if not opts.quiet:
                        _log(line)
                    continue
                jobs.append(_trial_job(plan, operation, values, batch, opts, n))
            flush()
    except BaseException:
        finish_batch_run(batch, -state.stopped if state.stopped > 0 else 1, keep=True)
        raise
    finally:
        _states.pop(batch.path, None)
        passing_on.__exit__(None, None, None)
        create.forget_shared_files()
    result = _tally(batch, trials, plan.opref, opts, skipped, state, optimizer)
    finish_batch_run(batch, _batch_exit(result), keep=opts.keep_batch)
    return result


def _batch_exit(result: SweepResult) -> int:
    """The batch run's exit status, as Guild records it: failed trials alone do not fail the batch.

    An interrupted sweep's batch reads ``terminated``, as its trials do;
    one stopped by ``--fail-on-trial-error`` takes the failed trial's status.
    """
    if result.interrupted:
        return -result.interrupted
    if result.fail_code:
        return result.fail_code
    return 1 if result.not_run else 0


def kept_batches(plan: Any, spec: SweepSpec, optimizer: str) -> list[Run]:
    """``--needed`` for a whole sweep, as Guild answers it: kept batch runs of
    the same optimizer (and optimizer flags) over the same prototype flags."""
    from luigi_guild.store import query

    learner = _learner(spec)
    if learner is not None:
        opref = batch_opref(learner.name, learner.model)
        batch_flags: dict[str, Any] = learner.check_flags(dict(spec.opt_flags or {}))
    else:
        opref, batch_flags = batch_opref(optimizer), {}
    return query.matching_batches(opref, batch_flags, plan.opref, plan.flags)


def _learner(spec: SweepSpec) -> Any:
    """The learning optimizer class ``spec`` names, or None (grid, random)."""
    if not spec.optimizer:
        return None
    from luigi_guild.sweeps import learners

    return learners.learner_class(spec.optimizer)


def _previous_trials(plan: Any, objective: Any, mode: str, batch: Run) -> list[tuple[dict[str, Any], float | None]]:
    """(flags, value to minimize or None) of earlier completed runs: ``prev-trials=operation``, every run of
    the operation; ``sourcecode``, every run whose source digest is the batch prototype's."""
    from luigi_guild.store import query
    from luigi_guild.sweeps.objective import read_value

    want = (plan.opref.pkg_type, plan.opref.pkg_name, plan.opref.model_name, plan.opref.op_name)
    digest = None
    if mode == "sourcecode":
        proto = batch.guild_path("proto")
        digest = Run.for_dir(proto).get("sourcecode_digest")
        if not digest:
            raise GuildError("cannot find runs for batch proto in %s: missing sourcecode digest" % proto)
    found = []
    for run in reversed(query.list_runs()):
        if run.status != Status.COMPLETED:
            continue
        if digest is not None:
            if run.get("sourcecode_digest") != digest:
                continue
        else:
            try:
                opref = run.opref
            except (OSError, ValueError):
                continue
            if (opref.pkg_type, opref.pkg_name, opref.model_name, opref.op_name) != want:
                continue
        value = read_value(run, objective)
        found.append((run.flags, objective.loss(value) if value is not None else None))
    return found


def linked_trials(batch: Run) -> list[Run]:
    """The trial runs linked in a batch run (that still exist)."""
    out = []
    for name in sorted(os.listdir(batch.path)):
        path = os.path.join(batch.path, name)
        if not name.startswith(".") and os.path.islink(path) and os.path.isdir(os.path.join(path, ".guild")):
            out.append(Run(name, os.path.realpath(path)))
    return out


def _batch_previous(batch: Run, objective: Any) -> list[tuple[dict[str, Any], float | None]]:
    """``prev-trials=batch`` on a restart: (flags, value to minimize or None) of the batch's completed trials."""
    from luigi_guild.sweeps.objective import read_values

    done = [r for r in linked_trials(batch) if r.status == Status.COMPLETED]
    values = read_values(done, objective)
    return [(r.flags, objective.loss(values[r.path]) if values.get(r.path) is not None else None) for r in done]


def _run_learning(
    plan: Any, spec: SweepSpec, opts: SweepOptions, executor: Executor, seed: int, batch: Run | None = None
) -> SweepResult:
    """A sweep whose optimizer learns: ask (``workers`` at a time), run, read the objective, tell; repeat.

    A restarted batch (``batch``) runs its max-trials again, as Guild's
    does: new trials, the first ``random-starts`` of them at random, the
    others learning from every completed trial linked to the batch (with
    ``prev-trials=batch``).
    """
    from luigi_guild.store import query
    from luigi_guild.sweeps import learners
    from luigi_guild.sweeps.objective import Objective, read_values
    from luigi_guild.sweeps.optimizers import TrialResult

    objective = spec.objective or Objective()
    cls = learners.learner_class(str(spec.optimizer))
    assert cls is not None
    space = learners.encode_flagdefs(plan.opdef, plan.flags, plan.user_flags)
    max_trials = spec.max_trials or learners.DEFAULT_MAX_TRIALS
    opt = cls([space], max_trials, seed, spec.opt_flags, objective.column)
    attrs: dict[str, Any] = {"max_trials": max_trials, "random_seed": seed, "objective": objective.attr}
    restarted = batch is not None
    if batch is not None:
        reopen_batch_run(batch, plan, attrs, batch_flags=opt.opt_flags)
    else:
        batch = create_batch_run(plan, opt.name, attrs, model=cls.model, batch_flags=opt.opt_flags,
                                 label=opts.batch_label, tags=opts.batch_tags, run_id=opts.run_id,
                                 comment=opts.batch_comment)
        if opts.stage_batch:
            stage_batch_run(batch)
            return SweepResult(opt.total, 0, 0, 0, 0, 0, batch, opt.name)
    state = SweepState(opt.total, opts.fail_on_trial_error, sys.stderr.isatty())
    _states[batch.path] = state
    if isinstance(executor, (InlineExecutor, PoolExecutor)):
        executor.stop = lambda: bool(state.stopped)
    opdef = plan.opdef
    flagdefs = opdef.flags if opdef is not None else {}
    operation = opdef.name if opdef.opref.pkg_type == "guildfile" else opdef.opref.op_name
    tally = _Tally(opt, objective, state)
    error: GuildError | None = None
    try:
        mode = opt.opt_flags.get("prev-trials")
        if mode in ("operation", "sourcecode"):
            opt.add_previous(_previous_trials(plan, objective, str(mode), batch))
        elif restarted:
            opt.add_previous(_batch_previous(batch, objective))
        numbered = [0]

        def make_job(values: dict[str, Any], note: str) -> Job:
            resolved = flagslib.resolve_values(flagdefs, values, force_flags=opts.force_flags, op_name=plan.op_name)
            _log(note)
            numbered[0] += 1
            return _trial_job(plan, operation, resolved, batch, opts, numbered[0] - 1)

        if isinstance(executor, PoolExecutor) and executor.workers > 1:
            error = _stream_learning(tally, executor.workers, make_job, opts.needed)
        while error is None and not opt.exhausted and not state.stopped:
            asked = opt.ask(max(1, opts.workers))
            if not asked:
                break
            jobs = [make_job(values, note) for values, note in zip(asked, opt.notes)]
            before = set(os.listdir(batch.path))
            executor.execute(jobs)
            made = [Run(name, os.path.realpath(os.path.join(batch.path, name)))
                    for name in sorted(set(os.listdir(batch.path)) - before) if not name.startswith(".")]
            found: list[tuple[dict[str, Any], Run | None, Status | None]] = []
            for values, job in zip(asked, jobs):
                run = next((r for r in made if flags_equal(r.flags, job.plan.flags)), None)
                if run is not None:
                    made.remove(run)
                    tally.ran += 1
                elif opts.needed:
                    matches = query.shared_index().needed(job.plan.opref, job.plan.flags)
                    run = matches[0] if matches else None
                    tally.skipped += run is not None
                found.append((values, run, run.status if run is not None else None))
            # The objectives of the trials just run, read together (one scalar-index pass).
            logged = read_values([r for _v, r, st in found if r is not None and st == Status.COMPLETED], objective)
            for values, run, status in found:
                tally.record(values, run, status, logged.get(run.path) if run is not None else None)
            error = tally.missing_objective()
    except BaseException:
        finish_batch_run(batch, 1, keep=True)
        raise
    finally:
        _states.pop(batch.path, None)
        create.forget_shared_files()
    not_run = 0 if state.stopped or error else opt.total - opt.asked
    interrupted = state.stopped if state.stopped > 0 else 0
    best = tally.best
    result = SweepResult(opt.total, tally.ran, tally.skipped, tally.failed, not_run, interrupted, batch, opt.name,
                         best_run=best[1] if best else None, best_value=best[2] if best else None,
                         fail_code=state.failed_code)
    finish_batch_run(batch, 1 if error is not None else _batch_exit(result), keep=True)
    if error is not None:
        raise error
    return result


class _Tally:
    """What a learning sweep's trials came to so far; tells the optimizer each result."""

    def __init__(self, opt: Any, objective: Any, state: SweepState) -> None:
        self.opt = opt
        self.objective = objective
        self.state = state
        self.ran = self.failed = self.skipped = 0
        self.best: tuple[float, Run, float] | None = None
        self.no_objective: list[Run] = []

    def record(self, values: dict[str, Any], run: Run | None, status: Status | None, value: float | None) -> None:
        """Tell the optimizer how the trial asked as ``values`` went (``value``: its objective, if logged)."""
        from luigi_guild.sweeps.optimizers import TrialResult

        if run is None or status is None:
            self.opt.tell(values, TrialResult("missing"))
            return
        objective, state = self.objective, self.state
        value = value if status == Status.COMPLETED else None
        if status not in Status.AVAILABLE:
            self.failed += 1
        elif value is None:
            self.no_objective.append(run)
        loss = objective.loss(value) if value is not None else None
        self.opt.tell(values, TrialResult(str(status), loss))
        if value is not None:
            state.best_of = max if objective.maximize else min
            state.best_label = objective.column
            state.best = value if state.best is None else state.best_of(state.best, value)
        if loss is not None and value is not None and (self.best is None or loss < self.best[0]):
            self.best = (loss, run, value)

    def missing_objective(self) -> GuildError | None:
        """The error when every trial that ran so far finished without logging the objective."""
        if self.best is None and self.no_objective and len(self.no_objective) == self.ran - self.failed:
            return GuildError(
                "trial %s did not log the objective '%s'" % (self.no_objective[0].id, self.objective.column),
                hint="Print it as '%s: VALUE' or choose another column with --minimize/--maximize."
                % self.objective.tag,
            )
        return None


def _stream_learning(tally: _Tally, workers: int, make_job: Any, needed: bool) -> GuildError | None:
    """Keep ``workers`` trials running: as each ends, tell its result and ask the next (no waiting for a batch).

    Each worker thread asks, runs and tells one trial at a time; the optimizer
    and the tally are used under one lock. Returns the missing-objective error,
    if any (no new trial starts after it).
    """
    from dataclasses import replace

    from luigi_guild.model.outcome import OutcomeKind
    from luigi_guild.run import executors, pipeline
    from luigi_guild.store import query
    from luigi_guild.sweeps.objective import read_values

    opt, state = tally.opt, tally.state
    lock = threading.Lock()
    errors: list[GuildError] = []

    def result(run: Run | None) -> tuple[Status | None, float | None]:
        """A trial run's status and objective value (None unless it completed and logged it)."""
        status = run.status if run is not None else None
        if run is None or status != Status.COMPLETED:
            return status, None
        return status, read_values([run], tally.objective).get(run.path)

    def work() -> None:
        while True:
            with lock:
                if errors or state.stopped or opt.exhausted:
                    return
                asked = opt.ask(1)
                if not asked:
                    return
                values = asked[0]
                job = make_job(values, opt.notes[0])
            outcome: Outcome | None = None
            try:
                outcome = pipeline.execute(job.plan, replace(job.opts, whole_lines=True))
            except Exception as e:  # reported, as a failed start; the other trials go on
                hint = getattr(e, "hint", None)
                executors._warn("%s" % e + ("\n" + hint if hint else ""))
            ran = outcome is not None and outcome.kind == OutcomeKind.FINISHED and outcome.run is not None
            run = outcome.run if ran and outcome is not None else None
            status, value = result(run)  # read outside the lock: the other workers ask and tell meanwhile
            with lock:
                if ran:
                    tally.ran += 1
                elif needed:
                    matches = query.shared_index().needed(job.plan.opref, job.plan.flags)
                    run = matches[0] if matches else None
                    tally.skipped += run is not None
                    status, value = result(run)
                tally.record(values, run, status, value)
                error = tally.missing_objective()
                if error is not None and not errors:
                    errors.append(error)

    threads = [threading.Thread(target=work, name="trial-%d" % n, daemon=True) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)  # short waits: signal handlers run in this (the main) thread meanwhile
    return errors[0] if errors else None


def _stage_trials(plan: Any, trials: list[dict[str, Any]], batch: Run, opts: SweepOptions, optimizer: str) -> SweepResult:
    """``--stage-trials``: each trial becomes a staged run (linked to the batch); nothing starts."""
    from luigi_guild.run import pipeline

    operation = plan.opdef.name if plan.opdef.opref.pkg_type == "guildfile" else plan.opdef.opref.op_name
    staged = 0
    try:
        for n, values in enumerate(trials):
            job = _trial_job(plan, operation, values, batch, opts, n)

            def on_created(run: Run, trial_plan: RunPlan) -> None:
                link_trial(batch.path, run)
                _log("Staging trial %s: %s (%s)" % (run.id, trial_plan.op_name, flags_desc(trial_plan.flags)))

            pipeline.execute(job.plan, RunOptions(stage=True, on_created=on_created))
            staged += 1
    except BaseException:
        finish_batch_run(batch, 1, keep=True)
        raise
    finish_batch_run(batch, 0, keep=opts.keep_batch)
    return SweepResult(len(trials), staged, 0, 0, 0, 0, batch, optimizer)


def _trial_job(plan: Any, operation: str, values: dict[str, Any], batch: Run, opts: SweepOptions, n: int) -> Job:
    """Trial ``n`` as a job: its own plan, and the options every trial runs with.

    Without ``--needed`` the job's key holds the trial's number, so trials
    with equal flags (``x=[1,2,1]``, a random draw that repeats) each run.
    """
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
    if plan.opref.pkg_type == "package":  # a sweep of a shipped project (-r): its trials are of the package too
        trial_plan.opref = plan.opref
    return Job(
        plan=trial_plan,
        opts=trial_options(batch.path, opts.needed, opts.quiet),
        operation=operation,
        project_dir=opdef.project_dir,
        batch=batch.path,
        extra={"needed": opts.needed, "run_key": "" if opts.needed else "%s:%d" % (batch.id, n), "label": opts.label, "tags": list(opts.tags),
               "quiet": opts.quiet, "force_flags": opts.force_flags},
    )


def trial_options(batch_dir: str, needed: bool, quiet: bool, whole_lines: bool = False) -> RunOptions:
    """How a trial of the sweep whose batch run is ``batch_dir`` runs (inline, from a pool thread or in a Luigi worker).

    With ``needed`` trials claim: a matching run made meanwhile skips the
    trial. Each trial links itself to the batch, logs its start, and
    records its outcome in the sweep's shared state.
    """
    from luigi_guild.model.outcome import OutcomeKind
    from luigi_guild.run import process
    from luigi_guild.store import query

    state = state_for(batch_dir)
    interrupts_before = [0]

    def matched(plan: RunPlan) -> bool:
        with _index_lock:  # trials may run from several threads (the pool executor)
            return bool(query.shared_index().needed(plan.opref, plan.flags))

    def on_created(run: Run, plan: RunPlan) -> None:
        if os.path.isdir(batch_dir):
            link_trial(batch_dir, run)
        line = "Running trial %s: %s (%s)" % (run.id, plan.op_name, flags_desc(plan.flags))
        append_output(batch_dir, b"INFO: [guild] %s\n" % line.encode())
        if not quiet:
            _log(line)
            if plan.upstream or plan.skipped_optional or (plan.opdef is not None and plan.opdef.file_requires):
                from luigi_guild.run import deps

                for dep_line in deps.report_lines(deps.resolutions(plan)):
                    _log(dep_line)
        interrupts_before[0] = len(process.interrupts)

    def on_finished(outcome: Outcome) -> None:
        if outcome.kind != OutcomeKind.FINISHED or outcome.run is None:
            return
        ok = outcome.exit_status == 0
        interrupted = len(process.interrupts) > interrupts_before[0]
        if state is not None:
            if interrupted:
                state.request_stop(process.interrupts[-1])
            state.record(ok)
        _copy_output(outcome.run, batch_dir)
        if ok or interrupted:
            return
        # As Guild words it; the sweep goes on unless --fail-on-trial-error.
        msg = "Trial %s exited with an error (%s) - see log for details" % (outcome.run.id, outcome.exit_status)
        append_output(batch_dir, b"ERROR: [guild] %s\n" % msg.encode())
        if not quiet:
            _log_error(msg)
        if state is not None and state.fail_fast and state.request_stop(-1, outcome.exit_status or 1):
            msg = "Stopping batch because a trial failed (pending trials can be started as needed)"
            append_output(batch_dir, b"ERROR: [guild] %s\n" % msg.encode())
            if not quiet:
                _log_error(msg)

    return RunOptions(
        claim=needed,  # without --needed nothing is checked under the claim: a plain run takes none either
        echo=not quiet,
        whole_lines=whole_lines,
        already_done=matched if needed else None,
        on_created=on_created,
        on_finished=on_finished,
        launch=True,
    )


def _copy_output(run: Run, batch_dir: str) -> None:
    """A finished trial's output (and its index) appended to the batch's, as under Guild."""
    try:
        data = _read_all(run.guild_path("output"))
        index = _read_all(run.guild_path("output.index"))
    except OSError:
        return
    append_output(batch_dir, data, index)


def _read_all(path: str) -> bytes:
    """A file's bytes with plain system calls (no file object: one trial's output is small)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


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
    return SweepResult(len(trials), ran, skipped, failed, not_run, interrupted, batch, optimizer,
                       fail_code=state.failed_code)


def _log(msg: str) -> None:
    sys.stderr.write("INFO: [guild] %s\n" % msg)
    sys.stderr.flush()


def _log_error(msg: str) -> None:
    sys.stderr.write("ERROR: [guild] %s\n" % msg)
    sys.stderr.flush()
