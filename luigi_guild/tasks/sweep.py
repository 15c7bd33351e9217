"""Sweep tasks: one :class:`TrialTask` per trial, and :class:`SweepTask` over them."""

from __future__ import annotations

import os
from typing import Any

import luigi

from luigi_guild.run import pipeline
from luigi_guild.run.plan import RunPlan, plan_new
from luigi_guild.sweeps import driver as sweeps
from luigi_guild.sweeps.trials import SweepSpec
from luigi_guild.store.rundir import Run
from luigi_guild.tasks.operation import FlagsParameter, OperationTask, RunFailed

def _opdef_for(operation: str, project_dir: str) -> Any:
    """Resolve an operation once per process (trials of a sweep share it)."""
    from luigi_guild.project import operations

    return operations.resolve_cached(operation, project_dir)


class TrialStopped(RuntimeError):
    """The sweep stopped (a trial failed with --fail-on-trial-error, or a signal) before this trial."""


class TrialTask(OperationTask):
    """One trial of a sweep: an :class:`OperationTask` that logs and links itself to its batch.

    The batch, label, tags and output settings are not part of the task id,
    so two processes sweeping the same flags with ``--needed`` share the
    trials' ids and a central scheduler runs each trial once. Without
    ``--needed`` every sweep runs its trials: ``run_key`` (the batch id)
    keeps their ids apart.
    """

    batch = luigi.Parameter(default="", significant=False, description="Batch run directory")
    run_key = luigi.Parameter(
        default="", description="Empty for needed trials (shared ids); the batch id otherwise (runs again)"
    )
    label = luigi.OptionalParameter(default=None, significant=False)
    tags = luigi.ListParameter(default=(), significant=False)
    quiet = luigi.BoolParameter(default=False, significant=False)
    force_flags = luigi.BoolParameter(default=False, significant=False)
    whole_lines = luigi.BoolParameter(default=False, significant=False, description="Echo whole lines only")

    def plan(self) -> RunPlan:
        cached = self.__dict__.get("_plan")
        if cached is None:
            project_dir = self.project_dir or os.getcwd()
            cached = plan_new(
                self.operation,
                cwd=project_dir,
                opdef=_opdef_for(self.operation, project_dir),
                values=self.flag_values,
                force_flags=self.force_flags,
                label=self.label,
                tags=list(self.tags),
            )
            self.__dict__["_plan"] = cached
        return cached

    def echo_output(self) -> bool:
        return not self.quiet

    def run(self) -> None:
        state = sweeps.state_for(self.batch) if self.batch else None
        if state is not None and state.stopped:
            raise TrialStopped("sweep stopped")
        plan = self.resolved_plan()
        outcome = pipeline.execute(plan, sweeps.trial_options(self.batch, self.needed, self.quiet, self.whole_lines))
        if outcome.run is not None:
            self.__dict__["_run"] = outcome.run
        if not outcome.ok:
            assert outcome.run is not None
            raise RunFailed(outcome.run, plan.op_name, outcome.exit_status, what="trial")
        self.__dict__["_ran_ok"] = True

    @property
    def trial_run(self) -> Run | None:
        return self.last_run


class SweepTask(luigi.WrapperTask):
    """All trials of a sweep over ``flags`` (lists: grid; functions: random search).

    For the Luigi API: ``luigi.build([SweepTask(operation="train", flags={"lr": [0.1, 0.2]})])``.
    Trials are needed-matched: a trial whose flags match a completed or
    terminated run is not run again.
    """

    operation = luigi.Parameter()
    flags = FlagsParameter(default="{}")
    project_dir = luigi.Parameter(default="")
    optimizer = luigi.OptionalParameter(default=None)
    max_trials = luigi.OptionalIntParameter(default=None)
    random_seed = luigi.IntParameter(default=0)
    needed = luigi.BoolParameter(default=True)

    def trials(self) -> list[dict[str, Any]]:
        cached = self.__dict__.get("_trials")
        if cached is None:
            import json

            project_dir = os.path.abspath(self.project_dir or os.getcwd())
            opdef = _opdef_for(self.operation, project_dir)
            plan = plan_new(self.operation, cwd=project_dir, opdef=opdef, values=json.loads(self.flags))
            spec = SweepSpec(self.optimizer, self.max_trials, self.random_seed)
            _opt, cached, _seed = sweeps.plan_trials(plan, spec)
            self.__dict__["_trials"] = cached
        return cached

    def requires(self) -> list[TrialTask]:
        project_dir = os.path.abspath(self.project_dir or os.getcwd())
        return [
            TrialTask(operation=self.operation, flags=values, project_dir=project_dir, needed=self.needed)
            for values in self.trials()
        ]
