"""Queries over many runs (``--needed`` matching).

This is the single place that answers "which runs match this operation and
flags", so a faster index can replace the scan without touching callers.
"""

from __future__ import annotations

from typing import Any

from luigi_guild import runstore
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
