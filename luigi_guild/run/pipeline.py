"""The run pipeline: the one way a planned run is executed (needed check -> claim -> create -> start -> finish).

The CLI, Luigi operation tasks, sweep trials and remotes all call
:func:`execute`; what differs between them is data (:class:`RunOptions`)
and a few hooks, never the order of the steps or the claim protocol.
"""

from __future__ import annotations

import sys

from dataclasses import dataclass
from typing import Callable

from luigi_guild.model.outcome import Outcome, OutcomeKind
from luigi_guild.run import create, process
from luigi_guild.run.plan import RunPlan, restart_needed
from luigi_guild.store.rundir import Run


@dataclass
class RunOptions:
    """How to execute a plan; the hooks let callers add their own steps at fixed points."""

    # Skip when a completed or terminated run has equal flags (``--needed``), under the claim.
    needed: bool = False
    # Take the claim even without ``needed`` (sweep trials: ``already_done`` decides).
    claim: bool = False
    stage: bool = False
    run_id: str | None = None
    # Make the run in this directory, outside Guild home (``--run-dir``).
    run_dir: str | None = None
    # Keep the run even when its operation says ``delete-on-success`` (``--keep-run``).
    keep_run: bool = False
    echo: bool = True
    # Echo complete lines only (several runs share the terminal: sweeps with --workers N).
    whole_lines: bool = False
    background: bool = False
    # Fork the process from the trial launcher when eligible (sweeps and queues: many short runs).
    launch: bool = False
    pidfile: str | None = None
    # After the needed check, before anything is created (resolve upstream runs, confirm).
    prepare: Callable[[RunPlan], None] | None = None
    # Under the claim: True when the run is already done by other means (skip it).
    already_done: Callable[[RunPlan], bool] | None = None
    # Once the run directory exists, before it starts (link a trial to its batch, log).
    on_created: Callable[[Run, RunPlan], None] | None = None
    # After a run started here has stopped (record a trial's result).
    on_finished: Callable[[Outcome], None] | None = None


def execute(plan: RunPlan, opts: RunOptions | None = None) -> Outcome:
    """Execute ``plan``: skip, stage, start in the background, or run here and wait."""
    opts = opts or RunOptions()
    if plan.restart is not None:
        if opts.needed:
            if not restart_needed(plan):
                return Outcome(OutcomeKind.UNCHANGED, run=plan.restart)
            # New flags that another run already has: skip and list it, as Guild does.
            from luigi_guild.store import query

            others = [r for r in query.needed_for_new_run(plan.opref, plan.flags) if r.id != plan.restart.id]
            if others:
                return Outcome(OutcomeKind.SKIPPED, matches=others)
        if opts.prepare is not None:
            opts.prepare(plan)
        return _launch(create.prepare_restart_run(plan), plan, opts)
    if opts.needed or opts.claim:
        # Claims read the run index: loaded only by the starts that take one.
        from luigi_guild.run import claim
    if opts.needed:
        with claim.claim_needed(plan) as matches:
            if matches:
                return Outcome(OutcomeKind.SKIPPED, matches=matches)
            return _create_and_launch(plan, opts)
    if opts.claim:
        with claim.claim(plan):
            return _create_and_launch(plan, opts)
    return _create_and_launch(plan, opts)


def _create_and_launch(plan: RunPlan, opts: RunOptions) -> Outcome:
    if opts.already_done is not None and opts.already_done(plan):
        return Outcome(OutcomeKind.SKIPPED)
    if opts.prepare is not None:
        opts.prepare(plan)
    if opts.launch and not (opts.stage or opts.background) and opts.run_id is None and opts.run_dir is None:
        outcome = _launch_deferred(plan, opts)
        if outcome is not None:
            return outcome
    return _launch(create.create_run(plan, opts.run_id, opts.run_dir), plan, opts)


def _launch_deferred(plan: RunPlan, opts: RunOptions) -> Outcome | None:
    """A trial forked by the launcher, which makes its own run first (the files are written there, not
    here); None when that cannot be (the run is then made and started here)."""
    prepared = create.deferred_run(plan)
    if prepared is None:
        return None
    run, env, setup = prepared
    on_created = opts.on_created
    status = process.start_deferred(run, plan, env, setup, echo=opts.echo, whole_lines=opts.whole_lines,
                                    on_ready=(lambda: on_created(run, plan)) if on_created is not None else None)
    if status is None:
        return None
    return _finished(run, plan, opts, status)


def _launch(run: Run, plan: RunPlan, opts: RunOptions) -> Outcome:
    if opts.on_created is not None:
        opts.on_created(run, plan)
    if opts.stage:
        create.stage(run, plan)
        return Outcome(OutcomeKind.STAGED, run=run)
    if opts.background:
        from luigi_guild.run.background import start_detached

        start_detached(run, lambda: process.start(run, plan, echo=False), opts.pidfile)
        return Outcome(OutcomeKind.STARTED, run=run)
    status = process.start(run, plan, echo=opts.echo, whole_lines=opts.whole_lines, launch=opts.launch)
    return _finished(run, plan, opts, status)


def _finished(run: Run, plan: RunPlan, opts: RunOptions, status: int) -> Outcome:
    outcome = Outcome(OutcomeKind.FINISHED, run=run, exit_status=status)
    if opts.on_finished is not None:
        opts.on_finished(outcome)
    if outcome.ok and plan.op_attr.get("delete-on-success") and not opts.keep_run and opts.run_dir is None:
        from luigi_guild.store import trash

        sys.stderr.write(
            "Deleting interim run %s ('%s' is configured for deletion on success)\n" % (run.id, plan.op_name)
        )
        trash.delete_runs([run])
    return outcome
