"""Upstream runs: choose the runs an operation requires, record them in its flags, place their files in.

A run's upstream runs are part of its identity, as in Guild: the full id of
each chosen upstream run is written into the run's flags (under the name
:func:`~luigi_guild.model.flagid.dep_flag_name` gives), so ``--needed`` and
Luigi's ``complete()`` never reuse a run made from other inputs.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from luigi_guild.model.errors import GuildError
from luigi_guild.model.opdef import FileRequirement
from luigi_guild.run.placing import (
    DependencyError, Warn, check_resolved, check_target, dep_error, generated_top_level, place_paths, select_under,
)
from luigi_guild.run.plan import RunPlan, Upstream
from luigi_guild.store import manifest, query
from luigi_guild.store.rundir import Run

if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.model.opdef import OpDef, Requirement


USED = "used"  # its upstream run was chosen for this start
STAGED = "staged"  # the run is only staged: its upstream run is used when it starts
KEPT = "kept"  # a restart keeps the upstream run recorded before
SKIPPED = "skipped"  # an optional requirement without a suitable run
FILE = "file"  # a project file or directory, copied or linked in when the run was made


@dataclass(frozen=True)
class Resolution:
    """One dependency source of a run about to start, and what resolving it did (Guild reports each)."""

    resource: str  # the requirement's resolving name: its ``name:``, else its uri
    source: str  # the source's resolving name (for an operation requirement, the same)
    run_id: str | None  # the upstream run
    state: str  # USED, STAGED or KEPT


def resolutions(plan: RunPlan, stage: bool = False) -> list[Resolution]:
    """What resolving the dependencies of the run ``plan`` starts does, in ``requires`` order.

    A new run uses the upstream runs chosen for it (:func:`resolve`, or
    Luigi's ``requires()``), or leaves them for its start when staged; a
    staged run that starts uses the ones recorded in its ``deps`` attr; any
    other restart keeps them. Call before the plan is executed.
    """
    if plan.restart is None:
        state = STAGED if stage else USED
        found = []
        seen: set[str] = set()
        for item in declared_order(plan):
            if isinstance(item, Upstream):
                found.append(Resolution(item.resource, item.resource, item.run.id, state))
                continue
            if isinstance(item, str):
                found.append(Resolution(item, item, None, STAGED if stage else SKIPPED))
                continue
            # A second entry with the same name is already resolved (Guild keys sources by name).
            key = item.resource_name + "\0" + item.source_name
            found.append(Resolution(item.resource_name, item.source_name, None, KEPT if key in seen else FILE))
            seen.add(key)
        return found
    recorded = plan.restart.get("deps")
    if not isinstance(recorded, dict):
        return []
    state = USED if plan.restart.status == "staged" else KEPT
    again = always_resolved(plan)
    found = []
    for resource, sources in _in_requires_order(plan, recorded):
        for source, info in (sources or {}).items() if isinstance(sources, dict) else ():
            run_id = info.get("config") if isinstance(info, dict) else None
            if resource in again and source == resource:  # ``always-resolve``: chosen and placed again
                found.append(Resolution(str(resource), str(source), again[resource].run.id, USED))
                continue
            # A file source (no upstream run) was resolved when the run was made: Guild skips it.
            kept = state if run_id is not None else KEPT
            found.append(Resolution(str(resource), str(source), None if run_id is None else str(run_id), kept))
    return found


def _current_opdef(plan: RunPlan) -> "OpDef | None":
    from luigi_guild.run.plan import opdef_for

    try:
        return plan.opdef or opdef_for(plan.opref)
    except GuildError:
        return None


def always_resolved(plan: RunPlan) -> dict[str, Upstream]:
    """For a restart: the ``requires`` entries marked ``always-resolve``, each with its run chosen again.

    As in Guild, the run is the one the dependency flag names (the id the
    run recorded, or a new ``NAME=<id or prefix>`` given with the restart),
    else the latest. Keyed by resolving name. Raises :class:`DependencyError`
    when a required one has no run.
    """
    if plan.restart is None:
        return {}
    opdef = _current_opdef(plan)
    if opdef is None or not any(req.always_resolve for req in opdef.requires):
        return {}
    found = {}
    for req, up in upstream_opdefs(opdef):
        if not req.always_resolve:
            continue
        given = plan.flags.get(req.flag(opdef.flags))
        run = _chosen(up, "" if given is None else str(given), opdef)
        if run is None:
            if req.optional:
                continue
            raise DependencyError(
                "run failed because a dependency was not met: no completed or terminated run of %s (required by %s)"
                % (up.name, opdef.name)
            )
        found[req.resource_name] = Upstream(run, req.uri, req.resource_name, list(req.select), req)
    return found


def choose_again(plan: RunPlan) -> dict[str, Upstream]:
    """Before a restart rewrites the run's flags: record the runs :func:`always_resolved` chooses."""
    again = always_resolved(plan)
    opdef = _current_opdef(plan)
    changed = False
    for up in again.values():
        if up.req is not None and opdef is not None:
            flag = up.req.flag(opdef.flags)
            changed = changed or plan.flags.get(flag) != up.run.id
            plan.flags[flag] = up.run.id
    if changed:
        plan.relabel()
    return again


def place_again(plan: RunPlan, run: Run, again: dict[str, Upstream]) -> None:
    """Place the files of the runs :func:`choose_again` chose in the restarted ``run``, as Guild does.

    Files already there are left alone with Guild's warning; the ``deps``
    attr gets the new entry and the manifest ``d`` lines for what was placed.
    """
    if not again:
        return
    attr = run.get("deps")
    attr = dict(attr) if isinstance(attr, dict) else {}
    lines: list[str] = []
    warn = _warner(plan)
    for up in again.values():
        sources = attr.get(up.resource)
        attr[up.resource] = {k: v for k, v in sources.items() if k != up.resource} if isinstance(sources, dict) else {}
        _place_upstream(up, plan, run.path, run.path, attr, lines, warn)
    run.write_attr("deps", attr)
    manifest.append(run.path, lines)


def _in_requires_order(plan: RunPlan, recorded: dict) -> list[tuple[Any, Any]]:
    """The recorded ``deps`` entries in the order the operation's ``requires`` lists them, as Guild
    reports them (the attr itself is sorted by name); names it no longer lists come last."""
    items = list(recorded.items())
    if len(items) < 2:
        return items
    from luigi_guild.run.plan import opdef_for

    try:
        opdef = plan.opdef or opdef_for(plan.opref)
    except GuildError:
        opdef = None
    if opdef is None:
        return items
    entries = sorted(list(opdef.requires) + list(opdef.file_requires), key=lambda r: r.position)
    names = [r.resource_name for r in entries]
    return sorted(items, key=lambda kv: names.index(kv[0]) if kv[0] in names else len(names))


# Where dependencies without a ``requires`` entry go: upstream runs Luigi's ``requires()`` chose, then ``-D``.
_UNDECLARED = 1 << 30


def declared_order(plan: RunPlan) -> list["Upstream | FileRequirement | str"]:
    """The plan's upstream runs and ``file:`` requirements in the order its ``requires`` lists them.

    An ``optional`` requirement without a suitable run is there as its resolving name.

    Guild resolves (reports, places and records in the manifest) a run's
    dependencies in that order, whatever their kind. Upstream runs that no
    ``requires`` entry names (Luigi ``requires()``) come after the declared
    ones, and ``guild run -D`` files last.
    """
    opdef = plan.opdef
    positions: dict[str, int] = {}
    for req in opdef.requires if opdef is not None else []:
        positions.setdefault(req.resource_name, req.position)
    items: list[tuple[int, Upstream | FileRequirement | str]] = [
        (positions.get(up.resource, _UNDECLARED), up) for up in plan.upstream
    ]
    items += [(positions.get(name, _UNDECLARED), name) for name in plan.skipped_optional]
    items += [(f.position, f) for f in (opdef.file_requires if opdef is not None else [])]
    return [item for _pos, item in sorted(items, key=lambda pair: pair[0])]


def report_lines(resolved: list[Resolution], notes: dict[str, list[str]] | None = None) -> list[str]:
    """Guild's words for :func:`resolutions`: ``Resolving NAME``, then what happened to each source.

    ``notes`` (a plan's ``dep_notes``) are the warnings placing each
    resource gave; each resource's come after its own lines.
    """
    lines: list[str] = []
    last = None
    for r in resolved:
        if r.resource != last:
            if last is not None:
                lines += (notes or {}).pop(last, [])
            lines.append("Resolving %s" % r.resource)
            last = r.resource
        if r.state == USED:
            lines.append("Using run %s for %s" % (r.run_id, r.source))
        elif r.state == FILE:
            pass  # Guild names the resource only
        elif r.state == SKIPPED:
            lines.append("Could not resolve %s - skipping because dependency is optional" % r.source)
        elif r.state == STAGED:
            lines.append("Skipping resolution of %s because it's being staged" % r.source)
        else:
            lines.append("Skipping resolution of %s because it's already resolved" % r.source)
    if last is not None:
        lines += (notes or {}).pop(last, [])
    for rest in (notes or {}).values():  # resources the report did not name
        lines += rest
    return lines


def upstream_opdefs(opdef: "OpDef") -> list[tuple["Requirement", "OpDef"]]:
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


def resolve(plan: RunPlan, force: bool = False) -> list[str]:
    """Choose the upstream run of each ``requires`` entry of the plan's operation.

    The flag of each entry may name a run (full id or prefix, or a list of
    them for a sweep); otherwise the latest completed or terminated run of
    the required operation is used. The full ids replace the flag values,
    the chosen runs become ``plan.upstream`` and the label is rendered again.
    Raises :class:`DependencyError` naming every operation without a usable run
    unless ``force`` (``--force-deps``): then the run goes ahead without them
    and the unmet dependencies are returned, to be shown as warnings.
    """
    opdef = plan.opdef
    if opdef is None or not opdef.requires:
        return []
    upstream: list[Upstream] = []
    missing = []
    for req, up in upstream_opdefs(opdef):
        flag = req.flag(opdef.flags)
        given = plan.flags.get(flag)
        if isinstance(given, list):
            plan.flags[flag] = [_chosen(up, str(v), opdef).id for v in given]
            continue
        run = _chosen(up, "" if given is None else str(given), opdef)
        if run is None:
            if req.optional:  # Guild goes ahead without it, saying so when the run starts
                plan.skipped_optional.append(req.resource_name)
                continue
            missing.append(up.name)
            continue
        plan.flags[flag] = run.id
        upstream.append(Upstream(run, req.uri, req.resource_name, list(req.select), req))
    unmet = ["no completed or terminated run of %s (required by %s)" % (m, opdef.name) for m in missing]
    if missing and force:
        plan.upstream = upstream
        plan.relabel()
        return unmet
    if missing:
        raise DependencyError(
            "run failed because a dependency was not met: no completed or terminated run of %s (required by %s)"
            % (", ".join(missing), opdef.name),
            hint="Run %s first, or use --build-deps to run missing operations as needed."
            % " and ".join("'guild run %s'" % m for m in missing),
        )
    plan.upstream = upstream
    plan.relabel()
    return []


def _chosen(up: "OpDef", prefix: str, opdef: "OpDef") -> Any:
    run = query.latest_of_operation(up.opref, id_prefix=prefix)
    if run is None and prefix:
        raise DependencyError(
            "run failed because a dependency was not met: no completed or terminated run of %s "
            "with an id starting with '%s' (required by %s)" % (up.name, prefix, opdef.name),
            hint="Try 'guild runs -Fo %s' for a list." % up.name,
        )
    return run


def record(plan: RunPlan, upstream: list[tuple[str, Upstream]]) -> None:
    """Record upstream runs chosen by the caller (Luigi ``requires()``): ``(flag name, upstream)`` pairs."""
    for flag, up in upstream:
        plan.flags[flag] = up.run.id
    plan.flags = {k: plan.flags[k] for k in sorted(plan.flags)}
    plan.upstream = plan.upstream + [up for _flag, up in upstream]
    plan.relabel()


def _place_upstream(
    up: Upstream, plan: RunPlan, dest: str, shown: str | None, attr: dict[str, Any], lines: list[str], warn: Warn
) -> None:
    """Copy (or link) an upstream run's files into ``dest``, as Guild places an operation source.

    Without ``select`` patterns, the run's top-level entries that hold a
    file it generated (no manifest entry for it or a directory above it) are
    taken; with them, the run-relative paths a pattern matches to the end.
    Placement (``target-path``, ``target-type``, ``rename``) is the one
    ``file:`` sources use (:func:`_place_paths`). Adds to Guild's ``deps``
    attr (``attr``) and the manifest's ``d`` lines (``lines``).
    """
    req = up.req
    run = up.run
    if up.select:
        sources = select_under(run.path, up.select)
    else:
        sources = [os.path.join(run.path, name) for name in generated_top_level(run.path)]
    if not check_resolved(sources, up.resource, up.resource, req, warn):
        return
    location = (plan.opdef.project_dir if plan.opdef is not None else plan.project_dir) or ""
    place_paths(
        sources, dest, shown, up.uri, up.resource, location, lines, warn,
        kind=(req.target_type if req is not None else None) or "copy",
        target_path=req.target_path if req is not None else "",
        rename=req.rename if req is not None else [],
    )
    # Guild keys an inline operation source by the same resolving name as its resource.
    attr.setdefault(up.resource, {})[up.resource] = {
        "config": run.id,
        "paths": [os.path.relpath(src, dest) for src in sources],
        "uri": up.uri,
    }


def place_all(plan: RunPlan, dest: str, shown: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """Place every dependency of the plan in the run dir ``dest``, in :func:`declared_order`.

    Upstream runs' files (:func:`_place_upstream`) and ``file:`` sources
    (:func:`_place_one`) are copied or linked; where two provide the same name,
    the one declared first wins. ``shown`` is the run directory named in
    warnings (``dest`` is a temporary name while the run is made). Returns
    Guild's ``deps`` attr and the manifest's ``d`` lines, in that order too.
    """
    attr: dict[str, Any] = {}
    lines: list[str] = []
    notes = plan.dep_notes
    warn = _warner(plan)
    try:
        for item in declared_order(plan):
            if isinstance(item, Upstream):
                _place_upstream(item, plan, dest, shown, attr, lines, warn)
            elif isinstance(item, str):
                attr.setdefault(item, {})  # Guild keeps the resource, with no source resolved
            elif plan.opdef is not None:
                _place_one(item, plan.opdef, dest, shown, attr, lines, warn)
    except GuildError:
        for held in (notes or {}).values():  # no report follows a failed start: say them now
            sys.stderr.write("".join(text + "\n" for text in held))
        if notes:
            notes.clear()
        raise
    return attr, lines


# ------------------------------------------------------------ file sources


def _warner(plan: RunPlan) -> Warn:
    """Where placing warnings go: the plan's ``dep_notes`` (for the resolution report), else stderr."""
    notes = plan.dep_notes

    def warn(resource: str, text: str) -> None:
        if notes is None:
            sys.stderr.write(text + "\n")
        else:
            notes.setdefault(resource, []).append(text)

    return warn


def file_sources(req: "FileRequirement", location: str) -> list[str]:
    """The absolute paths a ``file:`` requirement resolves to under ``location`` (the guild.yml dir).

    A directory without ``select`` is one source; with ``select``, the paths
    under it (files and directories, ``/``-separated) that a pattern matches
    to the end, sorted. Raises :class:`DependencyError` when the path is missing.
    """
    src = os.path.abspath(os.path.join(location, req.path))
    if not os.path.exists(src):
        raise dep_error(
            "could not resolve '%s' in %s resource: cannot find source file '%s'"
            % (req.source_name, req.resource_name, req.path)
        )
    if not os.path.isdir(src) or not req.select:
        return [src]
    return select_under(src, req.select)


def with_cli_deps(opdef: "OpDef", paths: list[str], cwd: str) -> "OpDef":
    """``opdef`` with a file dependency per ``guild run -D PATH``: linked in, named PATH, found from ``cwd``."""
    import dataclasses

    extra = [
        FileRequirement(path=p, target_type="link", resource=p, location=cwd, position=_UNDECLARED + 1 + i)
        for i, p in enumerate(paths)
    ]
    return dataclasses.replace(opdef, file_requires=list(opdef.file_requires) + extra)


def _place_one(
    req: "FileRequirement", opdef: "OpDef", dest: str, shown: str | None, attr: dict[str, Any], lines: list[str],
    warn: Warn,
) -> None:
    """Copy (or link) the sources of one ``file:`` requirement into the run dir ``dest``.

    Adds to Guild's ``deps`` attr (``attr``) and the manifest's ``d`` lines
    (``lines``). Raises :class:`DependencyError` for a missing source, a bad
    ``target-type`` or an absolute ``target-path``.
    """
    location = req.location or opdef.project_dir
    if req.source_name in attr.get(req.resource_name, {}):
        return  # an entry of the same name was resolved already (see resolutions())
    check_target(req.target_type or "copy", req.target_path, req.source_name, req.resource_name)
    sources = file_sources(req, location)
    check_resolved(sources, req.resource_name, req.resource_name, req, warn)
    place_paths(
        sources, dest, shown, req.uri, req.resource_name, location, lines, warn,
        kind=req.target_type or "copy", target_path=req.target_path, rename=req.rename,
    )
    attr.setdefault(req.resource_name, {})[req.source_name] = {
        "paths": [os.path.relpath(src, dest) for src in sources],
        "uri": req.uri,
    }


