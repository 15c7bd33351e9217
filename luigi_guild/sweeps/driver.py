"""Sweeps: trials from list values (grid), flag functions (random search) and batch files.

A sweep is recorded as a batch run (``<op>+`` or ``<op>+random``) whose
trials are ordinary runs of the operation. Trials are jobs handed to
an executor (:mod:`luigi_guild.run.executors`; the CLI uses Luigi's) in
chunks, so that scheduling cost grows linearly with the number of trials;
``--needed`` is answered from one process-wide run index.

Importing this module does not import Luigi.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from luigi_guild import __version__
from luigi_guild.model import home
from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError
from luigi_guild.model.opref import OpRef
from luigi_guild.model.flagid import equality_text, flags_equal
from luigi_guild.model.outcome import Outcome
from luigi_guild.model.status import Status
from luigi_guild.run.executors import Executor, InlineExecutor, Job
from luigi_guild.run.pipeline import RunOptions
from luigi_guild.run.plan import RunPlan
from luigi_guild.store.rundir import Run, now_us

if TYPE_CHECKING:
    import random

    from luigi_guild.store.index import RunIndex

OPTIMIZERS = ("grid", "random")
DEFAULT_RANDOM_TRIALS = 20
CHUNK_SIZE = 100

_FUNC_RE = re.compile(r"^\s*([a-zA-Z_]\w*)?\[([^\]:]*):([^\]:]*)(?::([^\]]*))?\]\s*$")


# ------------------------------------------------------------------ trials


def is_function(val: Any) -> bool:
    return isinstance(val, str) and bool(_FUNC_RE.match(val))


def is_sweep(flags: dict[str, Any], batch_files: list[str] | None = None, optimizer: str | None = None) -> bool:
    """Whether these flag values (or options) make a batch of trials rather than one run."""
    if batch_files or optimizer:
        return True
    return any(isinstance(v, list) or is_function(v) for v in flags.values())


def flags_desc(flags: dict[str, Any]) -> str:
    """``name=val`` pairs of non-null flags, sorted, comma-separated (trial log lines)."""
    return ", ".join("%s=%s" % (k, flagslib.format_val(flags[k])) for k in sorted(flags) if flags[k] is not None)


def grid(flags: dict[str, Any]) -> list[dict[str, Any]]:
    """The cartesian product of list values: by flag name, then value order."""
    names = sorted(flags)
    axes = [flags[n] if isinstance(flags[n], list) else [flags[n]] for n in names]
    return [dict(zip(names, combo)) for combo in itertools.product(*axes)]


def _number(text: str, func: str) -> int | float:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise GuildError("invalid flag function %s: '%s' is not a number" % (func, text)) from None


def sample(val: Any, rng: random.Random) -> Any:
    """One random value for a flag: a function is sampled, a list picked from, a scalar kept."""
    if isinstance(val, list):
        return rng.choice(val) if val else None
    if not is_function(val):
        return val
    m = _FUNC_RE.match(val)
    assert m is not None
    name = (m.group(1) or "uniform").lower()
    low, high = _number(m.group(2), val), _number(m.group(3), val)
    if low > high:
        raise GuildError("invalid flag function %s: lower bound is greater than upper bound" % val)
    if name == "uniform":
        if isinstance(low, int) and isinstance(high, int):
            return rng.randint(low, high)
        return rng.uniform(low, high)
    if name == "loguniform":
        if low <= 0:
            raise GuildError("invalid flag function %s: loguniform bounds must be greater than 0" % val)
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    raise GuildError("unsupported flag function '%s' in %s" % (name, val), hint="Use [a:b], uniform[a:b] or loguniform[a:b].")


def random_trials(flags: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` trials sampled with ``random.Random(seed)``, flags in name order."""
    import random  # here, not at the top: a plain `guild run` checks is_sweep and should not pay for it

    rng = random.Random(seed)
    return [{n: sample(flags[n], rng) for n in sorted(flags)} for _ in range(count)]


def read_batch_file(path: str) -> list[dict[str, Any]]:
    """Trials from a CSV (header = flag names), YAML or JSON file (a list of mappings)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise GuildError("cannot read batch file %s: %s" % (path, e.strerror)) from None
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        import csv

        reader = csv.reader(text.splitlines())
        rows = list(reader)
        if not rows:
            return []
        header = [h.strip() for h in rows[0]]
        trials = []
        for row in rows[1:]:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise GuildError(
                    "invalid batch file %s: row %d has %d values, expected %d"
                    % (path, len(trials) + 2, len(row), len(header))
                )
            trials.append({h: flagslib.decode_untyped(cell.strip()) for h, cell in zip(header, row)})
        return trials
    if ext in (".yml", ".yaml", ".json"):
        try:
            if ext == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as e:
            raise GuildError("invalid batch file %s: %s" % (path, str(e).splitlines()[0])) from None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
            raise GuildError("invalid batch file %s: expected a list of flag mappings" % path)
        return [dict(t) for t in data]
    raise GuildError("unsupported batch file %s: use .csv, .yaml, .yml or .json" % path)


@dataclass
class SweepSpec:
    """How trials are generated."""

    optimizer: str | None = None
    max_trials: int | None = None
    random_seed: int | None = None
    batch_files: list[str] = field(default_factory=list)

    def resolved_optimizer(self, flags: dict[str, Any]) -> str:
        opt = self.optimizer
        if opt in (None, "+", "grid"):
            if any(is_function(v) for v in flags.values()):
                if opt is None or opt == "+":
                    return "random"
                raise GuildError("grid search cannot sample flag functions; use --optimizer random")
            return "grid"
        if opt not in OPTIMIZERS:
            raise GuildError(
                "unsupported optimizer '%s'" % opt, hint="Supported optimizers: %s." % ", ".join(OPTIMIZERS)
            )
        return opt


def trial_values(flags: dict[str, Any], spec: SweepSpec) -> tuple[str, list[dict[str, Any]], int | None]:
    """(optimizer, raw trial flag values, seed used) for ``flags`` (which may hold lists/functions)."""
    import random

    if spec.max_trials is not None and spec.max_trials < 1:
        raise GuildError("invalid --max-trials %d: expected a positive number" % spec.max_trials)
    bases: list[dict[str, Any]] = [{}]
    if spec.batch_files:
        bases = []
        for path in spec.batch_files:
            bases.extend(read_batch_file(path))
    optimizer = spec.resolved_optimizer(flags)
    seed = spec.random_seed
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    trials: list[dict[str, Any]] = []
    for base in bases:
        merged = dict(flags)
        merged.update(base)
        if optimizer == "random":
            count = spec.max_trials or DEFAULT_RANDOM_TRIALS
            trials.extend(random_trials(merged, count, seed + len(trials)))
        else:
            trials.extend(grid(merged))
    if optimizer == "grid" and spec.max_trials is not None and len(trials) > spec.max_trials:
        picked = sorted(random.Random(seed).sample(range(len(trials)), spec.max_trials))
        trials = [trials[i] for i in picked]
    return optimizer, trials, seed


# ------------------------------------------------------------- batch runs


def batch_opref(optimizer: str) -> OpRef:
    """Opref of a batch run: ``builtin:guildai <version> '' +`` (grid) or ``... random``."""
    return OpRef("builtin", "guildai", __version__, "", "+" if optimizer == "grid" else optimizer)


def create_batch_run(proto_opref: OpRef, flags: dict[str, Any], optimizer: str, attrs: dict[str, Any]) -> Run:
    """Create and start (LOCK = this process) the batch run for a sweep."""
    from luigi_guild.run import create
    from luigi_guild.run import process as runner
    from luigi_guild.run.plan import RunPlan
    from luigi_guild.model.atomic import write_file_atomic

    plan = RunPlan(
        opref=batch_opref(optimizer),
        op_attr={"optimizer": optimizer},
        flags=flags,
        user_flags=flags,
        label="",
        project_dir=None,
        run_params={"optimizer": optimizer},
    )
    run = create.create_run(plan)
    proto = os.path.join(run.path, ".guild", "proto", ".guild")
    os.makedirs(os.path.join(proto, "attrs"), exist_ok=True)
    write_file_atomic(os.path.join(proto, "opref"), proto_opref.encode())
    proto_run = Run(run.id + "-proto", os.path.dirname(proto))
    proto_run.write_attr("flags", flags)
    for name, val in attrs.items():
        run.write_attr(name, val)
    run.write_attr("started", now_us())
    runner.write_lock(run, os.getpid())
    run.remove("PENDING")
    return run


def finish_batch_run(run: Run, exit_status: int, keep: bool) -> None:
    """Record the batch's exit status; move it to the trash when it succeeded and ``keep`` is false."""
    run.write_attr("exit_status", exit_status)
    run.write_attr("stopped", now_us())
    run.remove("LOCK")
    if exit_status == 0 and not keep:
        trash = home.trash_runs_dir()
        os.makedirs(trash, exist_ok=True)
        dest = os.path.join(trash, run.id)
        if os.path.lexists(dest):
            import shutil

            shutil.rmtree(dest, ignore_errors=True)
        os.rename(run.path, dest)


def link_trial(batch_dir: str, run: Run) -> None:
    """``<batch>/<trial id>`` -> ``../<trial id>``, as Guild links trials."""
    link = os.path.join(batch_dir, run.id)
    if not os.path.lexists(link):
        os.symlink(os.path.join("..", run.id), link)


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


def trial_options(batch_dir: str, needed: bool, quiet: bool) -> RunOptions:
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
