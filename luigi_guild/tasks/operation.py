"""``OperationTask``: one run of one operation with canonical flag values."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import luigi

from luigi_guild.model.flagid import canonical, dep_flag_name, param_text
from luigi_guild.model.opdef import OpDef
from luigi_guild.model.opref import OpRef
from luigi_guild.run import deps, pipeline
from luigi_guild.run.pipeline import RunOptions
from luigi_guild.run.plan import RunPlan, Upstream, plan_new
from luigi_guild.store import query
from luigi_guild.store.rundir import Run, now_us
from luigi_guild.targets.runs import OperationTarget, OpRunTarget


class FlagsParameter(luigi.Parameter):
    """Flag values as canonical JSON text.

    Sorted keys, and a text form that keeps ``1``, ``1.0`` and ``True`` apart,
    so Luigi's task ids and instance cache never confuse two flag sets.
    """

    def normalize(self, x: Any) -> str:
        if isinstance(x, str):
            x = json.loads(x) if x else {}
        if not isinstance(x, dict):
            raise ValueError("flags must be a mapping, got %r" % (x,))
        return param_text(dict(x))

    def parse(self, x: str) -> str:
        return self.normalize(x)

    def serialize(self, x: Any) -> str:
        return self.normalize(x)


class RunFailed(RuntimeError):
    """A run made by a task failed: the message names the run and ends with the last lines of its output.

    Luigi shows the message in its summary, in luigid's error view and in
    its error e-mails, so the cause travels with the failure.
    """

    TAIL_LINES = 20

    def __init__(self, run: Run, op_name: str, exit_status: Any, what: str = "run"):
        self.run = run
        self.exit_status = exit_status
        self.tail = output_tail(run, self.TAIL_LINES)
        msg = "%s %s (%s) failed with exit status %s" % (what, run.id, op_name, exit_status)
        if self.tail:
            msg += "; last lines of its output:\n" + "\n".join(self.tail)
        super().__init__(msg)


def output_tail(run: Run, lines: int) -> list[str]:
    """The last ``lines`` lines of a run's ``.guild/output`` (empty when there is none)."""
    try:
        with open(run.guild_path("output"), "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


class OperationTask(luigi.Task):
    """Run ``operation`` (a script or guild.yml operation) with ``flags``.

    ``complete()`` is true when a needed-matching run exists (same operation,
    equal flags, completed or terminated). Subclasses add upstream operations
    through ``requires()``; their runs' files are linked into this run.
    """

    operation = luigi.Parameter(description="Operation spec, e.g. 'train.py' or 'model:train'")
    flags = FlagsParameter(default="{}", description="Flag values (mapping)")
    project_dir = luigi.Parameter(default="", description="Directory the operation is resolved in")
    needed = luigi.BoolParameter(default=True, description="Skip when a matching run exists")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.__dict__["_built_us"] = now_us()

    @classmethod
    def of(
        cls, operation: str, flags: dict[str, Any] | None = None, project_dir: str | None = None, **kw: Any
    ) -> OperationTask:
        """A task with flags resolved (defaults filled, types coerced) and an absolute project dir."""
        project_dir = os.path.abspath(project_dir or os.getcwd())
        plan = plan_new(operation, cwd=project_dir, values=dict(flags or {}))
        return cls(operation=operation, flags=plan.flags, project_dir=project_dir, **kw)

    # ------------------------------------------------------------ planning

    @property
    def flag_values(self) -> dict[str, Any]:
        return json.loads(self.flags)

    def plan(self) -> RunPlan:
        """The run plan (resolved once per task instance)."""
        cached = self.__dict__.get("_plan")
        if cached is None:
            cached = plan_new(
                self.operation, cwd=self.project_dir or os.getcwd(), values=self.flag_values
            )
            self.__dict__["_plan"] = cached
        return cached

    def output(self) -> OperationTarget:
        """The newest run matching this task's request, its upstream runs included."""
        return OperationTarget(self._request)

    def _request(self) -> tuple[OpRef, dict[str, Any]] | None:
        try:
            plan = self.resolved_plan()
        except deps.DependencyError:
            return None
        return plan.opref, plan.flags

    def requires(self) -> list["OperationTask"]:
        """The operations a guild.yml operation ``requires`` (latest run of each, any flags)."""
        opdef = self.plan().opdef
        if opdef is None or not opdef.requires:
            return []
        return [
            RequiredOperationTask(operation=up.name, flags=up_defaults(up), project_dir=self.project_dir)
            for _req, up in deps.upstream_opdefs(opdef)
        ]

    def resolved_plan(self) -> RunPlan:
        """The plan with its upstream runs chosen now and their ids in its flags.

        guild.yml ``requires`` entries take the run their flag names, else the
        latest completed or terminated run; operation tasks returned by
        :meth:`requires` give the run behind their output. Raises
        ``DependencyError`` while one is missing.
        """
        base = self.plan()
        plan = dataclasses.replace(base, flags=dict(base.flags), upstream=[])
        deps.resolve(plan)
        chosen = []
        for task in luigi.task.flatten(self.requires()):
            if not isinstance(task, OperationTask) or isinstance(task, RequiredOperationTask):
                continue
            run = task.output().latest()
            if run is None:
                raise deps.DependencyError("no completed or terminated run of %s (required by %s)" % (task, self))
            up = task.plan().opref
            uri = "operation:" + up.op_name
            flag = dep_flag_name(uri, declared=base.flags)
            chosen.append((flag, Upstream(run, uri, uri)))
        if chosen:
            deps.record(plan, chosen)
        return plan

    def complete(self) -> bool:
        if self.__dict__.get("_ran_ok"):
            return True
        if not self.needed:
            return False
        return self.output().exists()

    # ------------------------------------------------------------- running

    def already_done(self, plan: RunPlan) -> bool:
        """Checked while holding the claim: whether another worker made the run meanwhile."""
        return self.needed and bool(query.shared_index().needed(plan.opref, plan.flags))

    def run(self) -> None:
        plan = self.resolved_plan()
        opts = RunOptions(needed=self.needed, echo=self.echo_output(), already_done=self.already_done)
        outcome = pipeline.execute(plan, opts)
        if outcome.run is not None:
            self.__dict__["_run"] = outcome.run
        if not outcome.ok:
            assert outcome.run is not None
            raise RunFailed(outcome.run, plan.op_name, outcome.exit_status)
        self.__dict__["_ran_ok"] = True

    def echo_output(self) -> bool:
        """Whether the run's output is shown (subclasses may silence it)."""
        return True

    @property
    def last_run(self) -> Run | None:
        """The run this task made, if any.

        With ``workers > 1`` Luigi runs the task in a child process; the
        parent then sees the newest matching run started since this task
        object was built.
        """
        run = self.__dict__.get("_run")
        if run is not None:
            return run
        built = self.__dict__.get("_built_us")
        latest = self.output().latest()
        if latest is not None and built is not None and latest.timestamp >= built:
            return latest
        return None


def up_defaults(opdef: OpDef) -> dict[str, Any]:
    """An upstream operation's default flag values, canonical."""
    return canonical({name: fd.default for name, fd in opdef.flags.items()})


class RequiredOperationTask(OperationTask):
    """An upstream operation named in ``requires``.

    Complete when the operation has any completed or terminated run (Guild's
    rule for operation dependencies); otherwise it runs once with ``flags``.
    """

    def output(self) -> OpRunTarget:  # type: ignore[override]
        return OpRunTarget(self.plan().opref)

    def complete(self) -> bool:
        if self.__dict__.get("_ran_ok"):
            return True
        return self.output().exists()

    def already_done(self, plan: RunPlan) -> bool:
        return self.output().exists()
