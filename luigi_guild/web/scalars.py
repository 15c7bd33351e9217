"""Scalars as the view reads them: the one adapter between the web face and a run's scalars.

Every scalar the view shows comes through :func:`last_values` (one value per
key, for the runs table) and :func:`series` (``(step, value)`` points per
key, for the charts), both over the run store's scalar API
(:mod:`luigi_guild.store.scalars`: summaries from the scalar index, series
from the event files). Keys are Guild's display keys: the tag for scalars in
the run directory or ``.guild`` (output scalars), ``prefix#tag`` otherwise.
"""

from __future__ import annotations

from typing import Any

from luigi_guild.store import eventfiles
from luigi_guild.store import scalars as runscalars
from luigi_guild.store.rundir import Run


def last_values(runs: list[Run]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{run id: {key: {"value": v, "step": s}}}``: each scalar's last value, for many runs at once.

    A key logged in several places keeps the first in Guild's order (the
    run root, then ``.guild``, then subdirectories), as ``guild compare``
    picks it. A scalar index that cannot be read gives no scalars, not an error.
    """
    try:
        by_dir = runscalars.for_runs(runs)
    except Exception:  # a broken cache must not take the page down
        return {r.id: {} for r in runs}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for run in runs:
        vals: dict[str, dict[str, Any]] = {}
        for s in by_dir.get(run.path, []):
            vals.setdefault(s.key, {"value": s.last_val, "step": s.last_step})
        out[run.id] = vals
    return out


def series(run: Run) -> dict[str, list[tuple[int, float]]]:
    """``{key: [(step, value), ...]}`` in the order the run logged them (files in name order).

    A truncated or corrupt event file gives the points read before the damage.
    """
    out: dict[str, list[tuple[int, float]]] = {}
    owner: dict[str, str] = {}
    for prefix, dir_path in eventfiles.source_dirs(run.path):
        for tag, value, step in eventfiles.read_dir(dir_path):
            key = runscalars.display_key(prefix, tag)
            if owner.setdefault(key, prefix) == prefix:
                out.setdefault(key, []).append((step, value))
    return out
