"""Luigi tasks for operations. Importing this package imports Luigi."""

import luigi

from luigi_guild.targets import BestRunTarget, NeededRunTarget, OpRunTarget, RunTarget
from luigi_guild.tasks.best import BestRunTask
from luigi_guild.tasks.operation import FlagsParameter, OperationTask, RequiredOperationTask

luigi.Target.register(NeededRunTarget)
luigi.Target.register(RunTarget)
luigi.Target.register(OpRunTarget)
luigi.Target.register(BestRunTarget)

__all__ = [
    "BestRunTarget",
    "BestRunTask",
    "FlagsParameter",
    "OperationTask",
    "RequiredOperationTask",
    "NeededRunTarget",
    "OpRunTarget",
    "RunTarget",
]
