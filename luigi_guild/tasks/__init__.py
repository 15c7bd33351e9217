"""Luigi tasks for operations. Importing this package imports Luigi."""

import luigi

from luigi_guild.targets import BestRunTarget, NeededRunTarget, OperationTarget, OpRunTarget, RunFileTarget, RunTarget
from luigi_guild.tasks.best import BestRunTask
from luigi_guild.tasks.operation import (
    FlagsParameter,
    OperationTask,
    RequiredOperationTask,
    RunFailed,
    operation_task,
)
from luigi_guild.tasks.params import BoolFlagParameter, FlagParameter
from luigi_guild.tasks.sweep import SweepTask, TrialTask

for _target in (NeededRunTarget, RunTarget, OpRunTarget, OperationTarget, RunFileTarget, BestRunTarget):
    luigi.Target.register(_target)

__all__ = [
    "BestRunTarget",
    "BestRunTask",
    "BoolFlagParameter",
    "FlagParameter",
    "FlagsParameter",
    "NeededRunTarget",
    "OpRunTarget",
    "OperationTarget",
    "OperationTask",
    "RequiredOperationTask",
    "RunFailed",
    "RunFileTarget",
    "RunTarget",
    "SweepTask",
    "TrialTask",
    "operation_task",
]
