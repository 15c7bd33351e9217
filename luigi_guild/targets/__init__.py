"""Luigi Targets over run directories (importable without Luigi).

The classes follow Luigi's Target protocol (``exists()``) and are registered
as virtual subclasses of ``luigi.Target`` when :mod:`luigi_guild.tasks` is
imported, so ``guild run`` can use them without paying for a Luigi import.
"""

from luigi_guild.targets.runs import BestRunTarget, NeededRunTarget, OperationTarget, OpRunTarget, RunFileTarget, RunTarget

__all__ = ["BestRunTarget", "NeededRunTarget", "OperationTarget", "OpRunTarget", "RunFileTarget", "RunTarget"]
