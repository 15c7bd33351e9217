"""Scalars as the view reads them: the one adapter between the web face and a run's scalars.

Every scalar the view shows comes through :func:`last_values` (one value per
tag, for the runs table) and :func:`series` (``(step, value)`` points per tag,
for the charts), so the source of scalars can change in this one module.
"""

from __future__ import annotations

from typing import Any

from luigi_guild.store.rundir import Run


def last_values(run: Run) -> dict[str, dict[str, Any]]:
    """``{tag: {"value": v, "step": s}}``: the value of each of the run's scalars at its largest step."""
    out: dict[str, dict[str, Any]] = {}
    for tag, points in series(run).items():
        if points:
            step, value = max(enumerate(points), key=lambda ip: (ip[1][0], ip[0]))[1]
            out[tag] = {"value": value, "step": step}
    return out


def series(run: Run) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` in the order the run logged them.

    The run store has no scalar reader yet, so no run has scalars here; this
    function is where it plugs in.
    """
    return {}
