"""Luigi tasks for operations. Importing this package imports Luigi."""

import luigi

from luigi_guild.targets import NeededRunTarget, RunTarget
from luigi_guild.tasks.operation import FlagsParameter, OperationTask

luigi.Target.register(NeededRunTarget)
luigi.Target.register(RunTarget)

__all__ = ["FlagsParameter", "OperationTask", "NeededRunTarget", "RunTarget"]
