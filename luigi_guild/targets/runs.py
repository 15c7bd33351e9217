"""Targets: a needed-matching run, and one known run directory."""

from __future__ import annotations

from typing import Any

from luigi_guild.model.flagid import canonical
from luigi_guild.model.status import Status
from luigi_guild.model.opref import OpRef
from luigi_guild.store.rundir import Run


class NeededRunTarget:
    """Exists when a run of ``opref`` with equal flags is completed or terminated.

    This is Guild's ``--needed`` rule: same operation (all five opref fields),
    equal flag values (``1 == 1.0``), status ``completed`` or ``terminated``.
    """

    def __init__(self, opref: OpRef, flags: dict[str, Any], root: str | None = None):
        self.opref = opref
        self.flags = canonical(flags)
        self.root = root

    def __repr__(self) -> str:
        return "NeededRunTarget(%s, %r)" % (self.opref.display, self.flags)

    def matches(self) -> list[Run]:
        """Matching runs, newest first."""
        from luigi_guild.store import query

        return query.needed(self.opref, self.flags, self.root)

    def exists(self) -> bool:
        return bool(self.matches())

    def latest(self) -> Run | None:
        """The newest matching run, or None."""
        found = self.matches()
        return found[0] if found else None


class RunTarget:
    """One known run directory; exists while its status is available."""

    def __init__(self, run: Run):
        self.run = run

    def __repr__(self) -> str:
        return "RunTarget(%s)" % self.run.id

    def exists(self) -> bool:
        import os

        return os.path.isdir(self.run.path) and self.run.status in Status.AVAILABLE



class OpRunTarget:
    """Exists when the operation has a completed or terminated run, whatever its flags.

    This is how Guild resolves ``requires: - operation: NAME``: the latest such
    run is used (the guild.yml digest in the opref is not compared).
    """

    def __init__(self, opref: OpRef, root: str | None = None):
        self.opref = opref
        self.root = root

    def __repr__(self) -> str:
        return "OpRunTarget(%s)" % self.opref.display

    def latest(self) -> Run | None:
        from luigi_guild.store import query

        return query.latest_of_operation(self.opref, self.root)

    def exists(self) -> bool:
        return self.latest() is not None
