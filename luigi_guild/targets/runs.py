"""Targets: a needed-matching run, one known run directory, the latest or best run of an operation."""

from __future__ import annotations

from typing import Any

from luigi_guild.model.flagid import canonical
from luigi_guild.model.status import Status
from luigi_guild.model.opref import OpRef
from luigi_guild.store.rundir import Run


class _ScalarsMixin:
    """Scalars of the run behind a target (its :meth:`run_for_scalars`)."""

    def run_for_scalars(self) -> Run | None:
        raise NotImplementedError

    def scalars(self) -> dict[str, Any]:
        """``{key: Scalar}`` (summaries: first/last/min/max/avg/total/count and steps); {} without a run."""
        from luigi_guild.store import scalars as scalarstore

        run = self.run_for_scalars()
        if run is None:
            return {}
        out: dict[str, Any] = {}
        for s in scalarstore.for_run(run):
            out.setdefault(s.key, s)
        return out

    def scalar(self, key: str, qual: str = "last") -> float | None:
        """One summary value of scalar ``key`` (``loss``, ``logs/train#loss``), or None."""
        s = self.scalars().get(key)
        return None if s is None else s.value(qual)


class NeededRunTarget(_ScalarsMixin):
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

    def run_for_scalars(self) -> Run | None:
        return self.latest()


class RunTarget(_ScalarsMixin):
    """One known run directory; exists while its status is available."""

    def __init__(self, run: Run):
        self.run = run

    def __repr__(self) -> str:
        return "RunTarget(%s)" % self.run.id

    def exists(self) -> bool:
        import os

        return os.path.isdir(self.run.path) and self.run.status in Status.AVAILABLE

    def run_for_scalars(self) -> Run | None:
        return self.run


class OpRunTarget(_ScalarsMixin):
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

    def run_for_scalars(self) -> Run | None:
        return self.latest()


class BestRunTarget(OpRunTarget):
    """The best completed or terminated run of an operation by one column (min or max).

    ``column`` is a column spec as ``guild select --min/--max`` takes it: a
    scalar (``loss``, ``min val_loss``, ``logs/train#acc``), a flag (``=lr``)
    or an attribute. Runs without a value are never chosen. It exists when at
    least one run has a value; :meth:`latest` returns the best one, so a
    downstream :class:`~luigi_guild.tasks.OperationTask` that depends on it
    gets that run's files linked, like any other upstream run.
    """

    def __init__(self, opref: OpRef, column: str, maximize: bool = False, root: str | None = None):
        super().__init__(opref, root)
        self.column = column
        self.maximize = maximize

    def __repr__(self) -> str:
        return "BestRunTarget(%s, %s %s)" % (self.opref.display, "max" if self.maximize else "min", self.column)

    def ranked(self) -> list[tuple[Run, Any]]:
        """``(run, value)`` of the operation's runs that have a value, best first."""
        from luigi_guild.store import compare, query

        return compare.ranked(query.runs_of_operation(self.opref, self.root), self.column, self.maximize)

    def latest(self) -> Run | None:
        ranked = self.ranked()
        return ranked[0][0] if ranked else None

    def value(self) -> Any:
        """The best run's value of the column (None when no run has one)."""
        ranked = self.ranked()
        return ranked[0][1] if ranked else None
