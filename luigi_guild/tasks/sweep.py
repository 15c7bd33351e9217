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
    ``--needed`` every sweep runs every trial: ``run_key`` (batch id and trial number)
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
    retry_count = None  # type: ignore[assignment]  # sweeps keep the scheduler's retry policy

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


class OptimizeTask(luigi.Task):
    """A sweep with an optimizer that learns; its result is the best run (:meth:`best_run`).

    For the Luigi API: ``luigi.build([OptimizeTask(operation="train.py",
    flags={"lr": "loguniform[1e-4:1e-1]"}, optimizer="gp", objective="-acc")])``.
    ``objective`` is a column to minimize, or ``-COL`` to maximize. The task
    is complete when a finished batch of this optimizer, seed and trial
    count over the same flags exists.
    """

    operation = luigi.Parameter()
    flags = FlagsParameter(default="{}")
    project_dir = luigi.Parameter(default="")
    optimizer = luigi.Parameter(default="gp")
    max_trials = luigi.IntParameter(default=20)
    random_seed = luigi.IntParameter(default=0)
    objective = luigi.Parameter(default="loss")
    opt_flags: Any = luigi.DictParameter(default={})
    workers = luigi.IntParameter(default=1, significant=False)

    def _plan(self) -> RunPlan:
        import json

        project_dir = os.path.abspath(self.project_dir or os.getcwd())
        opdef = _opdef_for(self.operation, project_dir)
        return plan_new(self.operation, cwd=project_dir, opdef=opdef, values=json.loads(self.flags))

    def _objective(self) -> Any:
        from luigi_guild.sweeps.objective import Objective

        col = str(self.objective)
        return Objective(col[1:], maximize=True) if col.startswith("-") else Objective(col)

    def _spec(self) -> SweepSpec:
        from luigi_guild.sweeps import learners

        choice = learners.choose(None, self.optimizer, False, {k: str(v) for k, v in dict(self.opt_flags).items()})
        if choice is None or learners.learner_class(choice.name) is None:
            raise ValueError("OptimizeTask needs an optimizer that learns, not %r" % self.optimizer)
        return SweepSpec(choice.name, self.max_trials, self.random_seed, opt_flags=choice.flags,
                         objective=self._objective())

    def batch(self) -> Run | None:
        """The newest finished batch run of this optimizer, seed and trial count over these flags."""
        import json

        from luigi_guild.model.flagid import flags_equal
        from luigi_guild.store import query

        plan = self._plan()
        spec = self._spec()
        want = plan.op_name + "+" + "%s:%s" % (self._learner_model(spec), spec.optimizer)
        proto_flags = json.loads(self.flags)
        for run in query.list_runs():
            if run.op_name != want or run.status != "completed":
                continue
            if (run.get("random_seed"), run.get("max_trials"), run.get("objective")) != (
                    self.random_seed, self.max_trials, spec.objective.attr):
                continue
            proto = Run(run.id + "-proto", os.path.join(run.path, ".guild", "proto"))
            if flags_equal(proto.flags, plan.flags) or flags_equal(proto.flags, proto_flags):
                return run
        return None

    @staticmethod
    def _learner_model(spec: SweepSpec) -> str:
        from luigi_guild.sweeps import learners

        cls = learners.learner_class(str(spec.optimizer))
        assert cls is not None
        return cls.model

    def complete(self) -> bool:
        return self.batch() is not None

    def run(self) -> None:
        from luigi_guild.run.executors import InlineExecutor

        result = sweeps.run_sweep(self._plan(), self._spec(), sweeps.SweepOptions(quiet=True, workers=self.workers),
                                  executor=InlineExecutor())
        if result.failed or result.not_run or result.interrupted:
            raise RuntimeError("%d of %d trials failed, %d not run" % (result.failed, result.total, result.not_run))

    def best_run(self) -> Run | None:
        """The trial of the finished batch with the best objective (None before the task has run)."""
        batch = self.batch()
        if batch is None:
            return None
        from luigi_guild.sweeps.objective import read_value

        objective = self._objective()
        best: tuple[float, Run] | None = None
        for name in sorted(os.listdir(batch.path)):
            path = os.path.join(batch.path, name)
            if name.startswith(".") or not os.path.islink(path):
                continue
            trial = Run(name, os.path.realpath(path))
            value = read_value(trial, objective) if trial.status == "completed" else None
            if value is not None and (best is None or objective.loss(value) < best[0]):
                best = (objective.loss(value), trial)
        return best[1] if best else None
