"""Upstream runs: link the files of required runs into a new run."""

from __future__ import annotations

import os
from typing import Any

from luigi_guild.rundir import Run


def link_upstream(upstream: list[Run], dest: str) -> dict[str, Any]:
    """Symlink each upstream run's top-level files into ``dest``; returns the ``deps`` attr.

    Entries already present in ``dest`` (the new run's own source files) and
    ``.guild`` are left alone; the first upstream run to provide a name wins.
    """
    attr: dict[str, Any] = {}
    for run in upstream:
        linked = []
        try:
            names = sorted(os.listdir(run.path))
        except OSError:
            continue
        for name in names:
            if name.startswith(".guild"):
                continue
            target = os.path.join(dest, name)
            if os.path.lexists(target):
                continue
            os.symlink(os.path.join(run.path, name), target)
            linked.append(name)
        attr[run.op_name] = {"run": run.id, "paths": linked}
    return attr
