"""Scalars of a run: per-tag summaries (first/last/min/max/avg/count/steps) and series for charts.

The public API for everything that reads results (``runs info``, ``compare``,
``select --min/--max``, optimizers, Luigi targets, the web view). Summaries
come through the scalar index (:mod:`luigi_guild.store.scalarindex`), so
unchanged runs never have their event files read again; series are read
from the event files (:mod:`luigi_guild.store.eventfiles`).
"""

from __future__ import annotations

import collections
import functools
import os
import threading

from luigi_guild.store.rundir import Run

TYPE_CHECKING = False  # typing costs milliseconds to import: annotations only
if TYPE_CHECKING:
    from typing import Callable, Iterable, NamedTuple, Union

    RunLike = Union[Run, str]

    class _Fields(NamedTuple):
        prefix: str
        tag: str
        first_val: float
        first_step: int
        last_val: float
        last_step: int
        min_val: float
        min_step: int
        max_val: float
        max_step: int
        avg_val: float
        total: float
        count: int  # type: ignore[assignment]  # the field shadows tuple.count, as Guild names it

else:
    _Fields = collections.namedtuple(
        "Scalar",
        "prefix tag first_val first_step last_val last_step min_val min_step max_val max_step avg_val total count",
    )


class Scalar(_Fields):
    """One tag's summary in one source directory of a run.

    A tuple (made straight from an index row, cheaply: ``compare`` makes one
    per run and tag): ``prefix``, ``tag``, ``first_val``/``first_step``,
    ``last_val``/``last_step``, ``min_val``/``min_step``, ``max_val``/``max_step``,
    ``avg_val``, ``total`` and ``count``.
    """

    __slots__ = ()

    @property
    def key(self) -> str:
        """Guild's display key: the tag for output scalars and the run root, else ``prefix#tag``."""
        return display_key(self.prefix, self.tag)

    @property
    def is_system(self) -> bool:
        return is_system(self.tag)

    def value(self, qual: str = "last") -> float | int:
        """The summary value named ``qual`` (``first last min max avg total count``)."""
        if qual == "count":
            return self.count
        if qual == "total":
            return self.total
        return getattr(self, qual + "_val")  # type: ignore[no-any-return]

    def step(self, qual: str = "last") -> int:
        return getattr(self, qual + "_step")  # type: ignore[no-any-return]


def display_key(prefix: str, tag: str) -> str:
    return tag if prefix in ("", ".guild") else "%s#%s" % (prefix, tag)


def is_system(tag: str) -> bool:
    """Guild's "system scalar": hidden by default in compare columns and ``runs info``."""
    return tag.startswith("sys/")


def _dir(run: RunLike) -> str:
    return run.path if isinstance(run, Run) else os.path.abspath(run)


def for_runs(runs: Iterable[RunLike]) -> dict[str, list[Scalar]]:
    """Scalars of each run, keyed by run directory, sorted by (prefix, tag)."""
    runs = list(runs)
    known: dict[str, list[tuple]] = {}
    if _noted:
        for r in runs:
            rows = _noted_rows(_dir(r))
            if rows is not None:
                known[_dir(r)] = rows
        runs = [r for r in runs if _dir(r) not in known]
    out = started([_dir(r) for r in runs], fork=False)(runs) if runs or not known else {}
    if known:
        out.update(from_rows(list(known), known))
    return out


# Output scalars this process has just written for runs it ran: run dir -> (event file or None
# when it wrote none, its size, its mtime_ns, summary rows). A sweep asks for each trial's
# objective as the trial ends; this spares it the index (a database write per trial).
_noted: dict[str, tuple[str | None, int, int, list[tuple]]] = {}
_noted_lock = threading.Lock()  # a sweep's worker threads note and read at once
_NOTED_MAX = 256
NOTE_MAX_EVENTS = 10_000  # a capture that wrote more events does not note them (see note_written)


def note_written(run_dir: str, path: str | None, events: list[tuple[str, float, int]]) -> None:
    """Remember the output scalars this process wrote for the run in ``run_dir``: ``events`` as
    written (values as the event file holds them) to the event file ``path`` (None: no file).

    :func:`for_runs` uses them for as long as that file is the run's only
    event file and is unchanged (same size and mtime); otherwise the run is
    read through the index as any other.
    """
    from luigi_guild.store.scalarindex import summarize

    try:
        st = os.stat(path) if path is not None else None
    except OSError:
        return
    rows = [(".guild", tag, *vals) for tag, vals in sorted(summarize(events).items())]
    with _noted_lock:
        if len(_noted) >= _NOTED_MAX:
            _noted.pop(next(iter(_noted)), None)
        _noted[run_dir] = (path, st.st_size if st else 0, st.st_mtime_ns if st else 0, rows)


def _noted_rows(run_dir: str) -> list[tuple] | None:
    """The noted summary rows of the run, if its event files are still just the one noted."""
    from luigi_guild.store import eventfiles

    entry = _noted.get(run_dir)
    if entry is None:
        return None
    path, size, mtime, rows = entry
    sources = eventfiles.source_files(run_dir)
    if path is None:
        return rows if not sources else None
    guild_dir, name = os.path.split(path)
    if sources != [(".guild", guild_dir, [name])]:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return rows if (st.st_size, st.st_mtime_ns) == (size, mtime) else None


def started(dirs: list[str] | str, fork: bool = True) -> Callable[[Iterable[RunLike]], dict[str, list[Scalar]]]:
    """Start getting the scalars of the runs in ``dirs`` (or in the runs directory ``dirs``); the
    function returned gives :func:`for_runs` of the runs it is given. Meanwhile, with many runs, a
    child process checks their index stamps (see :func:`luigi_guild.store.scalarindex.start`)."""
    from luigi_guild.store import scalarindex

    pending = scalarindex.start(dirs, fork)

    def result(runs: Iterable[RunLike]) -> dict[str, list[Scalar]]:
        dirs = []
        stamps = {}
        for r in runs:
            if isinstance(r, Run):
                dirs.append(r.path)
                if r.guild_stamp is not None:
                    stamps[r.path] = r.guild_stamp
            else:
                dirs.append(os.path.abspath(r))
        return from_rows(dirs, pending(dirs, stamps))

    return result


def from_rows(dirs: list[str], rows: dict[str, list[tuple]]) -> dict[str, list[Scalar]]:
    """The :class:`Scalar` of each of ``dirs`` from its scalar index rows (none: no scalars)."""
    make = functools.partial(tuple.__new__, Scalar)  # Scalar._make without a Python call per row
    return {d: list(map(make, rows.get(d, ()))) for d in dirs}


def for_run(run: RunLike) -> list[Scalar]:
    """Scalars of one run, sorted by (prefix, tag)."""
    return for_runs([run])[_dir(run)]


def find(scalars: list[Scalar], tag: str, prefix: str | None = None) -> Scalar | None:
    """The scalar Guild's column rules pick for ``tag`` (and ``prefix``, matched as a start).

    Without a prefix, the first row with the tag in (prefix, tag) order, so
    output scalars (``.guild``) win over subdirectories.
    """
    for s in scalars:
        if s.tag == tag and (prefix is None or s.prefix.startswith(prefix)):
            return s
    return None


def split_key(key: str) -> tuple[str | None, str]:
    """``prefix#tag`` -> (prefix, tag); a plain tag -> (None, tag)."""
    if "#" in key:
        prefix, tag = key.split("#", 1)
        return prefix, tag
    return None, key


def series(run: RunLike, tag: str, prefix: str | None = None) -> list[tuple[int, float]]:
    """``(step, value)`` of ``tag`` in file order, from the first matching source directory."""
    from luigi_guild.store import eventfiles

    for src_prefix, d in eventfiles.source_dirs(_dir(run)):
        if prefix is not None and not src_prefix.startswith(prefix):
            continue
        points = [(step, val) for t, val, step in eventfiles.read_dir(d) if t == tag]
        if points:
            return points
    return []


def last_values(run: RunLike, include_system: bool = False) -> dict[str, tuple[float, int]]:
    """``{display key: (last value, last step)}`` (what ``runs info`` shows)."""
    out: dict[str, tuple[float, int]] = {}
    for s in _info_order(for_run(run)):
        if include_system or not s.is_system:
            out[s.key] = (s.last_val, s.last_step)
    return out


def _info_order(scalars: list[Scalar]) -> list[Scalar]:
    """Unprefixed keys first, then by (prefix, tag)."""
    return sorted(scalars, key=lambda s: (s.prefix not in ("", ".guild"), s.prefix, s.tag))


def info_order(scalars: list[Scalar]) -> list[Scalar]:
    return _info_order(scalars)
