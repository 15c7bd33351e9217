"""``BestRunTask``: depend on the best run of an operation by one result column (min or max)."""

from __future__ import annotations

import os

import luigi

from luigi_guild.project import operations
from luigi_guild.targets.runs import BestRunTarget


class BestRunTask(luigi.Task):
    """Complete when some completed or terminated run of ``operation`` has a value for ``column``.

    Its output is a :class:`~luigi_guild.targets.BestRunTarget`: a downstream
    ``OperationTask`` that requires this task gets the best run's files copied
    into its run directory, and can read its scalars with
    ``self.input().scalars()``. It never makes runs itself: when no run
    qualifies, running it fails with a message saying so (require the
    operation's own tasks, or run a sweep first).
    """

    operation = luigi.Parameter(description="Operation spec, e.g. 'train.py' or 'model:train'")
    column = luigi.Parameter(description="Column spec: a scalar ('loss', 'max val_acc'), '=flag' or '.attr'")
    maximize = luigi.BoolParameter(default=False, description="Pick the largest value instead of the smallest")
    project_dir = luigi.Parameter(default="", description="Directory the operation is resolved in")

    def output(self) -> BestRunTarget:
        cached = self.__dict__.get("_target")
        if cached is None:
            opdef = operations.resolve(self.operation, self.project_dir or os.getcwd())
            cached = BestRunTarget(opdef.opref, self.column, self.maximize)
            self.__dict__["_target"] = cached
        return cached

    def complete(self) -> bool:
        return self.output().exists()

    def run(self) -> None:
        raise RuntimeError(
            "no completed or terminated run of %s has a value for '%s'" % (self.operation, self.column)
        )
