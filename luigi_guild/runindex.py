"""Queries over many runs (``--needed`` matching).

This is the single place that answers "which runs match this operation and
flags", so a faster index can replace the scan without touching callers.
"""

from __future__ import annotations

from typing import Any

from luigi_guild import home, runstore
from luigi_guild.opref import OpRef
from luigi_guild.rundir import AVAILABLE_STATUSES, Run


def needed_matches(opref: OpRef, flags: dict[str, Any], root: str | None = None) -> list[Run]:
    """Runs with ``opref``, flags equal to ``flags`` and an available status, newest first."""
    found = []
    for run in runstore.list_runs(root):
        try:
            if run.opref != opref:
                continue
        except (OSError, ValueError):
            continue
        if run.flags != flags:
            continue
        if run.status in AVAILABLE_STATUSES:
            found.append(run)
    return found


# ------------------------------------------------------------ bulk matching


def flags_key(flags: dict[str, Any]) -> tuple:
    """A hashable form of ``flags`` that compares like the dict (``1 == 1.0 == True``)."""
    return tuple((k, _hashable(flags[k])) for k in sorted(flags))


def _hashable(val: Any) -> Any:
    if isinstance(val, list):
        return ("__list__",) + tuple(_hashable(v) for v in val)
    if isinstance(val, dict):
        return ("__dict__",) + tuple((k, _hashable(val[k])) for k in sorted(val, key=str))
    try:
        hash(val)
    except TypeError:
        return repr(val)
    return val


class NeededIndex:
    """Runs indexed by (operation, flags), built once and refreshed incrementally.

    One listing of the runs directory serves any number of lookups; a
    :meth:`refresh` reads only runs added since (it does nothing when the
    directory has not changed). Statuses are read at lookup time, only for
    the candidates, so a run that finishes after indexing is seen as
    finished.
    """

    def __init__(self, root: str | None = None):
        self.root = root or home.runs_dir()
        self._stamp: int | None = None
        self._by_key: dict[tuple, list[Run]] = {}
        self._seen: dict[str, tuple] = {}

    def refresh(self) -> None:
        """Index runs created (and forget runs removed) since the last refresh."""
        import os

        try:
            stamp = os.stat(self.root).st_mtime_ns
        except OSError:
            stamp = None
        if stamp is not None and stamp == self._stamp:
            return
        try:
            names = set(os.listdir(self.root))
        except OSError:
            names = set()
        for gone in set(self._seen) - names:
            key = self._seen.pop(gone)
            if key is not None:
                self._by_key[key] = [r for r in self._by_key.get(key, []) if r.id != gone]
        for name in names - set(self._seen):
            if name.startswith("."):
                continue
            run = Run(name, os.path.join(self.root, name))
            try:
                opref = run.opref
            except (OSError, ValueError):
                continue  # not a run (yet): look again next time
            key = (opref, flags_key(run.flags))
            self._seen[name] = key
            self._by_key.setdefault(key, []).append(run)
        self._stamp = stamp

    def runs_for(self, opref: OpRef, flags: dict[str, Any]) -> list[Run]:
        """Every indexed run of ``opref`` with these flags, whatever its status."""
        if self._stamp is None:
            self.refresh()
        return list(self._by_key.get((opref, flags_key(flags)), []))

    def matches(self, opref: OpRef, flags: dict[str, Any]) -> list[Run]:
        """Like :func:`needed_matches`, from the index (call :meth:`refresh` for new runs)."""
        if self._stamp is None:
            self.refresh()
        found = []
        for run in self._by_key.get((opref, flags_key(flags)), []):
            if run.status in AVAILABLE_STATUSES and run.flags == flags:
                found.append(run)
        return runstore.sort_runs(found)


def needed_matches_many(items: list[tuple[OpRef, dict[str, Any]]], root: str | None = None) -> list[list[Run]]:
    """:func:`needed_matches` for many (opref, flags) pairs with one scan of the runs."""
    index = NeededIndex(root)
    index.refresh()
    return [index.matches(opref, flags) for opref, flags in items]


_shared: dict[str, NeededIndex] = {}


def shared_index(root: str | None = None) -> NeededIndex:
    """A process-wide :class:`NeededIndex` for ``root`` (refreshed by callers)."""
    root = root or home.runs_dir()
    index = _shared.get(root)
    if index is None:
        index = _shared[root] = NeededIndex(root)
    return index
