"""Upstream runs: find the runs an operation requires and link their files into a new run."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from luigi_guild.model.errors import GuildError
from luigi_guild.store import query
from luigi_guild.store.rundir import Run

if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.model.opdef import OpDef


class DependencyError(GuildError):
    """A required upstream run is missing."""


def upstream_opdefs(opdef: "OpDef") -> list[tuple[Any, "OpDef"]]:
    """``(requirement, upstream opdef)`` pairs for a guild.yml operation's ``requires``."""
    if not opdef.requires:
        return []
    from luigi_guild.project import guildfile

    path = opdef.opref.pkg_name
    pairs = []
    for req in opdef.requires:
        up = guildfile.find_op(path, req.opspec)
        if up is None:
            raise GuildError(
                "error in %s: operation '%s' requires unknown operation '%s'" % (path, opdef.name, req.opspec)
            )
        pairs.append((req, up))
    return pairs


def resolve_upstream(opdef: "OpDef") -> tuple[list[Run], dict[str, list[str]]]:
    """The latest available run of each required operation, and per-run ``select`` patterns.

    Raises :class:`DependencyError` naming every operation without a usable run.
    """
    runs: list[Run] = []
    select: dict[str, list[str]] = {}
    missing = []
    for req, up in upstream_opdefs(opdef):
        run = query.latest_of_operation(up.opref)
        if run is None:
            missing.append(up.name)
            continue
        runs.append(run)
        if req.select:
            select[run.id] = list(req.select)
    if missing:
        raise DependencyError(
            "run failed because a dependency was not met: no completed or terminated run of %s (required by %s)"
            % (", ".join(missing), opdef.name),
            hint="Run %s first, or use --build-deps to run missing operations as needed."
            % " and ".join("'guild run %s'" % m for m in missing),
        )
    return runs, select


def link_upstream(upstream: list[Run], dest: str, select: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Symlink each upstream run's top-level files into ``dest``; returns the ``deps`` attr.

    ``select`` maps a run id to regular expressions: only names matching one
    of them (whole name) are linked from that run. Entries already present in
    ``dest`` (the new run's own source files) and ``.guild`` are left alone;
    the first upstream run to provide a name wins.
    """
    select = select or {}
    attr: dict[str, Any] = {}
    for run in upstream:
        patterns = [re.compile(p) for p in select.get(run.id, [])]
        linked = []
        try:
            names = sorted(os.listdir(run.path))
        except OSError:
            continue
        for name in names:
            if name.startswith(".guild"):
                continue
            if patterns and not any(p.fullmatch(name) for p in patterns):
                continue
            target = os.path.join(dest, name)
            if os.path.lexists(target):
                continue
            os.symlink(os.path.join(run.path, name), target)
            linked.append(name)
        attr[run.op_name] = {"run": run.id, "paths": linked}
    return attr
