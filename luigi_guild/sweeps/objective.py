"""Objectives: the scalar a learning optimizer minimizes or maximizes, and reading it from a run.

An objective comes from ``--minimize COL`` / ``--maximize COL``, else from
guild.yml ``objective:`` (a column name to minimize, or ``{maximize: COL}``
/ ``{minimize: COL}``), else it is ``loss`` (minimized). ``COL`` is a scalar
column: ``loss``, ``val#acc``, or with a qualifier ``max acc`` (first, last,
min, max, avg, total, count; default last). Attr ``objective`` records it as
Guild does: ``loss``, or ``-acc`` to maximize.

:func:`read_value` is the one place a run's objective is read: through the
scalar API (:mod:`luigi_guild.store.scalars`), so output scalars and event
files the script writes both count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import Run

QUALIFIERS = ("first", "last", "min", "max", "avg", "total", "count")
_COL_RE = re.compile(r"^\s*(?:(first|last|min|max|avg|total|count)\s+)?([^\s]+)\s*$")


@dataclass(frozen=True)
class Objective:
    """A scalar column to minimize (or maximize)."""

    column: str = "loss"
    maximize: bool = False

    @property
    def qualifier(self) -> str:
        return _parse_col(self.column)[0]

    @property
    def tag(self) -> str:
        return _parse_col(self.column)[1]

    @property
    def attr(self) -> str:
        """The batch's ``objective`` attr: ``COL``, or ``-COL`` when maximized."""
        return ("-" if self.maximize else "") + self.column

    def describe(self) -> str:
        return "%s %s" % ("maximize" if self.maximize else "minimize", self.column)

    def loss(self, value: float) -> float:
        """The value to minimize for a run's objective ``value``."""
        return -value if self.maximize else value


def _parse_col(col: str) -> tuple[str, str]:
    m = _COL_RE.match(col)
    if not m:
        raise GuildError("invalid objective column '%s'" % col, hint="Use a scalar name such as 'loss', optionally "
                         "after one of %s (e.g. 'max acc')." % ", ".join(QUALIFIERS))
    return m.group(1) or "last", m.group(2)


def resolve(minimize: str | None, maximize: str | None, opdef_objective: Any = None) -> Objective:
    """The objective from the command line, else from guild.yml, else ``loss`` (minimized)."""
    if minimize and maximize:
        raise GuildError("--minimize and --maximize cannot both be used")
    if minimize or maximize:
        obj = Objective(str(minimize or maximize), maximize=bool(maximize))
    elif opdef_objective is None:
        obj = Objective()
    elif isinstance(opdef_objective, str):
        obj = Objective(opdef_objective)
    elif isinstance(opdef_objective, dict) and len(opdef_objective) == 1:
        (key, col), = opdef_objective.items()
        if key not in ("minimize", "maximize") or not isinstance(col, str):
            raise GuildError("invalid objective %r in guild.yml: expected a column name, {minimize: COL} or "
                             "{maximize: COL}" % (opdef_objective,))
        obj = Objective(col, maximize=key == "maximize")
    else:
        raise GuildError("invalid objective %r in guild.yml: expected a column name, {minimize: COL} or "
                         "{maximize: COL}" % (opdef_objective,))
    _parse_col(obj.column)
    return obj


def read_value(run: Run, objective: Objective) -> float | None:
    """The run's value of ``objective``'s column (from its scalars), or None when the run never logged it."""
    from luigi_guild.store import scalars

    prefix, tag = scalars.split_key(objective.tag)
    found = scalars.find(scalars.for_run(run), tag, prefix)
    return None if found is None else float(found.value(objective.qualifier))


def read_values(runs: list[Run], objective: Objective) -> dict[str, float]:
    """:func:`read_value` for several runs with one pass over the scalar index: ``{run dir: value}``
    for the runs that logged the column."""
    from luigi_guild.store import scalars

    if not runs:
        return {}
    prefix, tag = scalars.split_key(objective.tag)
    out = {}
    for path, rows in scalars.for_runs(runs).items():
        found = scalars.find(rows, tag, prefix)
        if found is not None:
            out[path] = float(found.value(objective.qualifier))
    return out
