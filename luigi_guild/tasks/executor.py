"""The ``luigi`` executor: jobs become Luigi tasks, run by workers on the local or a central scheduler."""

from __future__ import annotations

from typing import Any, Sequence

from luigi_guild.model.outcome import Outcome
from luigi_guild.run.executors import Executor, Job, register
from luigi_guild.tasks import scheduling


@register
class LuigiExecutor(Executor):
    """Hands jobs to Luigi as :class:`~luigi_guild.tasks.sweep.TrialTask` s (``workers`` at a time).

    With a central scheduler (``luigid``), tasks with the same id in several
    processes run once; this executor then waits for the ones that other
    processes are running. Outcomes are read from the run directories by the
    caller, so :meth:`execute` returns none.
    """

    name = "luigi"

    def __init__(self, scheduler_host: str | None = None, scheduler_port: int | None = None, workers: int = 1):
        self.sched = scheduling.scheduler_for(scheduler_host, scheduler_port)
        scheduling.check_reachable(self.sched)  # fail fast, before anything is created
        self.workers = max(1, workers)

    def execute(self, jobs: Sequence[Job]) -> list[Outcome]:
        from luigi_guild.tasks.sweep import TrialTask

        tasks: list[Any] = []
        for job in jobs:
            task = TrialTask(
                operation=job.operation,
                flags=job.plan.flags,
                project_dir=job.project_dir,
                batch=job.batch,
                whole_lines=self.workers > 1,
                **job.extra,
            )
            task.__dict__["_plan"] = job.plan  # planned already: no second resolution in the worker
            tasks.append(task)
        scheduling.build(tasks, self.sched, workers=self.workers)
        if self.sched.central:
            from luigi_guild.sweeps.driver import wait_for_others

            by_batch: dict[str, list[Job]] = {}
            for job in jobs:
                by_batch.setdefault(job.batch, []).append(job)
            for batch, batch_jobs in by_batch.items():
                if batch:
                    wait_for_others(batch, [j.plan.flags for j in batch_jobs], batch_jobs[0].plan.opref)
        return []
