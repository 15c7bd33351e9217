"""Targets: a needed-matching run, an operation task's output, one known run directory, a run file, the best run of an operation."""

from __future__ import annotations

import os
from typing import Any, Callable, IO

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
    gets that run's files copied in, like any other upstream run.
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


class OperationTarget(NeededRunTarget):
    """The output of an operation task: the newest run matching the task's request, upstream runs included.

    ``request`` returns the operation and its flags with the upstream run ids
    filled in, or None while an upstream run is missing (then the target does
    not exist). Reads like Luigi's file targets: ``path`` is the run
    directory, ``open(name)`` opens a file of the run, ``file(name)`` is a
    target for one file, and ``run`` is the run itself (id, flags, status).
    """

    def __init__(self, request: Callable[[], "tuple[OpRef, dict[str, Any]] | None"], root: str | None = None):
        self._request = request
        self.root = root

    def __repr__(self) -> str:
        req = self._request()
        return "OperationTarget(%s)" % ("%s, %r" % (req[0].display, req[1]) if req else "upstream missing")

    @property
    def opref(self) -> OpRef:  # type: ignore[override]
        req = self._request()
        if req is None:
            raise LookupError("an upstream run is missing")
        return req[0]

    @property
    def flags(self) -> dict[str, Any]:  # type: ignore[override]
        req = self._request()
        if req is None:
            raise LookupError("an upstream run is missing")
        return req[1]

    def matches(self) -> list[Run]:
        from luigi_guild.store import query

        req = self._request()
        if req is None:
            return []
        return query.shared_index(self.root).needed(*req)

    @property
    def run(self) -> Run:
        """The newest matching run; raises LookupError when there is none."""
        run = self.latest()
        if run is None:
            raise LookupError("%r has no completed or terminated run" % self)
        return run

    @property
    def path(self) -> str:
        """The run directory of :attr:`run`."""
        return self.run.path

    def file(self, name: str) -> "RunFileTarget":
        """A target for the file ``name`` (relative) of :attr:`run`."""
        return RunFileTarget(self.run, name)

    def open(self, name: str, mode: str = "r") -> IO[Any]:
        """Open the file ``name`` of :attr:`run` (read-only modes)."""
        return self.file(name).open(mode)


class RunFileTarget:
    """One file of a run directory, like Luigi's ``LocalTarget``: ``path``, ``exists()``, ``open()``."""

    def __init__(self, run: Run, name: str):
        path = os.path.normpath(os.path.join(run.path, name))
        if os.path.isabs(name) or not path.startswith(os.path.normpath(run.path) + os.sep):
            raise ValueError("%s is not a path inside run %s" % (name, run.id))
        self.run = run
        self.name = name
        self.path = path

    def __repr__(self) -> str:
        return "RunFileTarget(%s, %s)" % (self.run.id, self.name)

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def open(self, mode: str = "r") -> IO[Any]:
        if any(c in mode for c in "wax+"):
            raise ValueError("run files are read-only here (mode %r)" % mode)
        return open(self.path, mode)
