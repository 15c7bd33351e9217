"""``RemoteOperationTask``: one run of one operation on a named Slurm remote, as a Luigi task.

``run()`` stages the run on the cluster's shared Guild home, submits its
Slurm job and waits for the run to stop, so ``luigi.build([...], workers=N)``
keeps N jobs in flight. ``complete()`` reads the shared home: it is true when
a run of the operation (as the remote names it, ``gpkg.anonymous-.../OP``)
with equal flags is completed or terminated there (Guild's ``--needed``),
after Slurm's view of its jobs has been written into the runs (a job Slurm
killed is an ``error``, not a match): directly when the shared home is on
this machine, else over the remote's SSH connection.
"""

from __future__ import annotations

import os
import time
from typing import Any

import luigi

from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError
from luigi_guild.model.opref import OpRef
from luigi_guild.run.plan import RunPlan, plan_new
from luigi_guild.tasks.operation import FlagsParameter

ACTIVE = ("staged", "pending", "running")


class RemoteOperationTask(luigi.Task):
    """Run ``operation`` with ``flags`` on remote ``remote`` (a ``slurm`` remote)."""

    operation = luigi.Parameter(description="guild.yml operation, e.g. 'train' or 'model:train'")
    flags = FlagsParameter(default="{}", description="Flag values (mapping)")
    project_dir = luigi.Parameter(default="", description="Directory the operation is resolved in")
    remote = luigi.Parameter(description="Name of a slurm remote in the user config")
    needed = luigi.BoolParameter(default=True, description="Skip when a matching run exists on the remote")

    poll_seconds = 1.0

    @classmethod
    def of(
        cls, operation: str, remote: str, flags: dict[str, Any] | None = None, project_dir: str | None = None, **kw: Any
    ) -> "RemoteOperationTask":
        """A task with flags resolved (defaults filled, types coerced) and an absolute project dir."""
        project_dir = os.path.abspath(project_dir or os.getcwd())
        plan = plan_new(operation, cwd=project_dir, values=dict(flags or {}))
        return cls(operation=operation, flags=plan.flags, project_dir=project_dir, remote=remote, **kw)

    def plan(self) -> RunPlan:
        cached = self.__dict__.get("_plan")
        if cached is None:
            import json

            cached = plan_new(self.operation, cwd=self.project_dir or os.getcwd(), values=json.loads(self.flags))
            self.__dict__["_plan"] = cached
        return cached

    def _remote(self) -> Any:
        from luigi_guild.remote.base import remote_for
        from luigi_guild.remote.slurm_kind import SlurmRemote

        target = remote_for(self.remote)
        if not isinstance(target, SlurmRemote):
            raise GuildError("remote %s: type %s cannot run Luigi tasks (use a slurm remote)" % (self.remote, target.kind))
        return target

    def remote_opref(self) -> OpRef:
        """The operation as runs on the remote record it: from this project's package."""
        from luigi_guild.remote.package import package_name

        opref = self.plan().opref
        guildfile = os.path.join(self.project_dir or os.getcwd(), "guild.yml")
        return OpRef("package", package_name(guildfile), "", opref.model_name, opref.op_name)

    def complete(self) -> bool:
        if self.__dict__.get("_ran_ok"):
            return True
        if not self.needed:
            return False
        return bool(self._remote().needed_runs(self.remote_opref(), self.plan().flags))

    def run(self) -> None:
        from luigi_guild.remote import package as packagelib
        from luigi_guild.remote.base import RemoteRunRequest

        target = self._remote()
        plan = self.plan()
        flag_args = ["%s=%s" % (k, flagslib.format_val(v)) for k, v in plan.flags.items()]
        req = RemoteRunRequest(
            opspec=self.operation,
            flag_args=flag_args,
            package=packagelib.build(self.project_dir or os.getcwd()),
            needed=self.needed,
            no_wait=True,
        )
        run_ids = target.submit(req)
        status = self._wait(target, run_ids)
        if status not in (None, "completed"):
            raise RuntimeError("run %s (%s) on %s ended %s" % (run_ids[0], self.operation, self.remote, status))
        self.__dict__["_ran_ok"] = True

    def _wait(self, target: Any, run_ids: list[str]) -> str | None:
        """Wait for the runs to stop; the status of the first that did not complete (None: all did, or none ran)."""
        pending = set(run_ids)
        worst: str | None = None
        while pending:
            for r in target.list_runs():
                if r.id in pending and r.status not in ACTIVE:
                    pending.discard(r.id)
                    if r.status != "completed" and worst is None:
                        worst = r.status
            if pending:
                time.sleep(self.poll_seconds)
        return worst
