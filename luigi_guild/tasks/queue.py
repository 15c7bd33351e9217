"""Queues through a central Luigi scheduler: each staged run is a task luigid gives to one queue only.

``guild run queue --scheduler-host H`` (or luigi.cfg's scheduler) makes a
:class:`LuigiQueue`: each poll hands every staged run to luigid as a
:class:`StagedRunTask` (its id is the run id, the same on every host sharing
the Guild home), oldest first by priority. luigid gives a task to one
worker at a time and a task is complete once its run is no longer staged,
so queues on several hosts never start the same run twice. The home-wide
status lock still guards each start, so these queues share a home safely
with queues that do not use luigid.
"""

from __future__ import annotations

from typing import Any

import luigi

from luigi_guild.model.status import Status
from luigi_guild.store.rundir import Run
from luigi_guild.sweeps.queue import Queue
from luigi_guild.tasks import scheduling


class StagedRunTask(luigi.Task):
    """Start staged run ``run_id`` from the queue that luigid gives this task to."""

    run_id = luigi.Parameter(description="Id of the staged run")
    run_dir = luigi.Parameter(significant=False, description="The run's directory in this host's Guild home")

    def _run(self) -> Run:
        return Run(self.run_id, self.run_dir)

    def complete(self) -> bool:
        return self._run().status != Status.STAGED

    def run(self) -> None:
        queue: LuigiQueue | None = self.__dict__.get("_queue")
        if queue is None:
            raise RuntimeError("StagedRunTask runs only inside a queue")
        if queue.stopping:
            return
        run = queue.claim([self._run()])  # the home-wide lock too: queues without luigid may share the home
        if run is not None:
            queue.start(run)
            queue.started_here += 1


class LuigiQueue(Queue):
    """A :class:`~luigi_guild.sweeps.queue.Queue` whose polls go through the central scheduler ``sched``."""

    def __init__(self, run: Run, flags: dict[str, Any], sched: scheduling.Scheduler, **kw: Any):
        super().__init__(run, flags, **kw)
        self.sched = sched
        self.started_here = 0

    def drain(self) -> int:
        staged = self.startable()
        if not staged:
            return 0
        tasks = []
        for i, run in enumerate(staged):
            task = StagedRunTask(run_id=run.id, run_dir=run.path)
            task.__dict__["_queue"] = self
            task.priority = len(staged) - i  # oldest first
            tasks.append(task)
        before = self.started_here
        scheduling.build(tasks, self.sched, workers=1)
        return self.started_here - before
