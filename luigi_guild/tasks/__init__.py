"""Luigi tasks for operations. Importing this package imports Luigi."""

import luigi

from luigi_guild.targets import BestRunTarget, NeededRunTarget, OperationTarget, OpRunTarget, RunFileTarget, RunTarget
from luigi_guild.tasks import cmdline
from luigi_guild.tasks.best import BestRunTask
from luigi_guild.tasks.cmdline import TaskParameterError, TaskValueError
from luigi_guild.tasks.operation import (
    FlagsParameter,
    OperationTask,
    RequiredOperationTask,
    RunFailed,
    operation_task,
)
from luigi_guild.tasks.params import BoolFlagParameter, FlagParameter
from luigi_guild.tasks.sweep import SweepTask, TrialTask

cmdline.install()  # ``luigi --module m Train --lr abc``: one ``guild: ...`` line, no traceback

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
    "TaskParameterError",
    "TaskValueError",
    "TrialTask",
    "operation_task",
]
