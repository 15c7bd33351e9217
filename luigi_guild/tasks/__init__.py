"""Luigi tasks for operations. Importing this package imports Luigi."""

import luigi

from luigi_guild.targets import NeededRunTarget, OpRunTarget, RunTarget
from luigi_guild.tasks.operation import FlagsParameter, OperationTask, RequiredOperationTask

luigi.Target.register(NeededRunTarget)
luigi.Target.register(RunTarget)
luigi.Target.register(OpRunTarget)

__all__ = ["FlagsParameter", "OperationTask", "RequiredOperationTask", "NeededRunTarget", "OpRunTarget", "RunTarget"]
