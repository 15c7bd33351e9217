"""The runs under Guild home: listing, ordering and selection by RUN spec."""

from __future__ import annotations

import os

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError, RunNotFound
from luigi_guild.store.rundir import Run

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only

if TYPE_CHECKING:
    from typing import Iterable

    from luigi_guild.store.filters import RunFilter


def list_runs(root: str | None = None) -> list[Run]:
    """Every run under ``root`` (default: Guild home's runs dir), newest first.

    A directory is a run only when it holds ``.guild/opref``. The order comes
    from the run index (:mod:`luigi_guild.store.index`), checked against the run
    directories; the runs returned read their files afresh.
    """
    from luigi_guild.store.index import RunIndex

    index = RunIndex.load(root)
    runs = index.runs()
    index.save()
    return runs


def filtered_runs(run_filter: "RunFilter | None" = None, deleted: bool = False) -> list[Run]:
    """Runs newest first, from the trash when ``deleted``, that pass ``run_filter``."""
    from luigi_guild.store import filters as runfilter

    root = home.trash_runs_dir() if deleted else home.runs_dir()
    return runfilter.apply(list_runs(root), run_filter)


def sort_runs(runs: Iterable[Run]) -> list[Run]:
    """Newest first by ``started`` (fallback ``initialized``), then by id."""
    keyed = [(r.timestamp, r.id, r) for r in runs]
    keyed.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [t[2] for t in keyed]


def select(runs: list[Run], specs: Iterable[str], cmd: str = "runs") -> list[Run]:
    """Runs picked by ``specs`` from ``runs`` (already filtered and sorted), in list order.

    A spec is a 1-based index, a ``START:END`` slice, a full run id or an id prefix.
    """
    picked: dict[str, Run] = {}
    for spec in specs:
        for run in _select_spec(runs, spec, cmd):
            picked.setdefault(run.id, run)
    order = {r.id: i for i, r in enumerate(runs)}
    return sorted(picked.values(), key=lambda r: order.get(r.id, 0))


def select_one(runs: list[Run], spec: str | None, cmd: str = "runs") -> Run:
    """One run by spec; the latest when ``spec`` is None."""
    if spec is None:
        if not runs:
            raise GuildError("no matching runs")
        return runs[0]
    matches = _select_spec(runs, spec, cmd)
    if len(matches) > 1:
        raise _ambiguous(spec, matches)
    return matches[0]


def _select_spec(runs: list[Run], spec: str, cmd: str) -> list[Run]:
    if ":" in spec:
        start_s, _, end_s = spec.partition(":")
        try:
            start = int(start_s) if start_s else 1
            end = int(end_s) if end_s else len(runs)
        except ValueError:
            start = end = -1
        if start >= 0:
            return runs[max(start - 1, 0) : end]
    if spec.isdigit():
        index = int(spec)
        if 1 <= index <= len(runs):
            return [runs[index - 1]]
    exact = [r for r in runs if r.id == spec]
    if exact:
        return exact
    matches = [r for r in runs if r.id.startswith(spec)]
    if not matches:
        raise not_found(spec, cmd)
    if len(matches) > 1:
        raise _ambiguous(spec, matches)
    return matches


def not_found(spec: str, cmd: str) -> RunNotFound:
    return RunNotFound(
        "could not find a run matching '%s'" % spec,
        hint="Try 'guild runs list' for a list or 'guild %s --help' for more information." % cmd,
    )


def _ambiguous(spec: str, matches: list[Run]) -> GuildError:
    return GuildError(
        "'%s' matches multiple runs:\n%s" % (spec, "\n".join("  %s" % r.short_id for r in matches))
    )


def find_run(spec: str, cmd: str = "run") -> Run:
    """A run for ``--restart``/``--start``: a run dir path, else a unique id (prefix)."""
    if spec.startswith((".", "/")) and os.path.isdir(os.path.join(spec, ".guild")):
        return Run.for_dir(spec)
    root = home.runs_dir()
    if not spec or spec.startswith(".") or "/" in spec:
        raise not_found(spec, cmd)
    if os.path.exists(os.path.join(root, spec, ".guild", "opref")):
        return Run(spec, os.path.join(root, spec))
    try:
        names = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        names = []
    matches = [
        Run(n, os.path.join(root, n))
        for n in names
        if n.startswith(spec) and os.path.exists(os.path.join(root, n, ".guild", "opref"))
    ]
    if not matches:
        raise not_found(spec, cmd)
    if len(matches) > 1:
        raise _ambiguous(spec, matches)
    return matches[0]
