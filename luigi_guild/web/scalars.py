"""Scalars as the view reads them: the one adapter between the web face and a run's scalars.

Every scalar the view shows comes through :func:`last_values` (one value per
key, for the runs table) and :func:`series` (``(step, value)`` points per
key, for the charts), so the source of scalars can change in this module
alone. Keys are Guild's display keys: the tag for scalars logged in the run
directory or ``.guild`` (output scalars), ``prefix#tag`` for a subdirectory.

Until the run store offers a scalar API, this reads the run's TensorBoard
event files itself, with the ``tensorboard`` package's event file loader
(imported only here, and only when a run has event files).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from luigi_guild.store.rundir import Run

EVENTS_MARK = ".tfevents."


def last_values(run: Run) -> dict[str, dict[str, Any]]:
    """``{key: {"value": v, "step": s}}``: each scalar's value at its largest step (the latest such event)."""
    out: dict[str, dict[str, Any]] = {}
    for key, points in series(run).items():
        if points:
            best = points[0]
            for p in points[1:]:
                if p[0] >= best[0]:
                    best = p
            out[key] = {"value": best[1], "step": best[0]}
    return out


def series(run: Run) -> dict[str, list[tuple[int, float]]]:
    """``{key: [(step, value), ...]}`` in the order the run logged them (files in name order).

    A truncated or corrupt event file gives the points read before the damage.
    """
    out: dict[str, list[tuple[int, float]]] = {}
    for prefix, path in _event_files(run.path):
        for tag, step, value in _cached_events(path):
            key = tag if prefix in ("", ".guild") else "%s#%s" % (prefix, tag)
            out.setdefault(key, []).append((step, value))
    return out


def _event_files(run_dir: str) -> list[tuple[str, str]]:
    """``(prefix, file)`` for every event file under ``run_dir`` (links not followed), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(run_dir):
        dirnames.sort()
        rel = os.path.relpath(dirpath, run_dir)
        prefix = "" if rel == "." else rel.replace(os.sep, "/")
        for name in sorted(filenames):
            if EVENTS_MARK in name and not os.path.islink(os.path.join(dirpath, name)):
                found.append((prefix, os.path.join(dirpath, name)))
    return sorted(found)


# event file -> ((size, mtime_ns), its scalars): the view asks every few seconds; unchanged files are not re-read.
_CACHE: dict[str, tuple[tuple[int, int], list[tuple[str, int, float]]]] = {}


def _cached_events(path: str) -> list[tuple[str, int, float]]:
    try:
        st = os.stat(path)
    except OSError:
        return []
    stamp = (st.st_size, st.st_mtime_ns)
    hit = _CACHE.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    events = list(_read_events(path))
    _CACHE[path] = (stamp, events)
    return events


def _read_events(path: str) -> Iterator[tuple[str, int, float]]:
    """``(tag, step, value)`` of every scalar in one event file; stops quietly at damage."""
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.util import tensor_util
    except ImportError:
        return
    try:
        for event in EventFileLoader(path).Load():
            if not event.HasField("summary"):
                continue
            for val in event.summary.value:
                if val.HasField("simple_value"):
                    yield val.tag, int(event.step), float(val.simple_value)
                elif val.HasField("tensor") and val.metadata.plugin_data.plugin_name == "scalars":
                    yield val.tag, int(event.step), float(tensor_util.make_ndarray(val.tensor).item())
    except Exception:  # a damaged file: keep what was read
        return
