"""Upstream runs: choose the runs an operation requires, record them in its flags, link their files in.

A run's upstream runs are part of its identity, as in Guild: the full id of
each chosen upstream run is written into the run's flags (under the name
:func:`~luigi_guild.model.flagid.dep_flag_name` gives), so ``--needed`` and
Luigi's ``complete()`` never reuse a run made from other inputs.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from luigi_guild.model.errors import GuildError
from luigi_guild.model.opdef import FileRequirement
from luigi_guild.run.plan import RunPlan, Upstream
from luigi_guild.store import manifest, query
from luigi_guild.store.rundir import Run

if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.model.opdef import OpDef, Requirement


Warn = Callable[[str, str], None]  # (resource name, warning line)


class DependencyError(GuildError):
    """A required upstream run is missing."""


# How a dependency source of a starting run was resolved (see :class:`Resolution`).
USED = "used"  # its upstream run was chosen for this start
STAGED = "staged"  # the run is only staged: its upstream run is used when it starts
KEPT = "kept"  # a restart keeps the upstream run recorded before
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
            # A second entry with the same name is already resolved (Guild keys sources by name).
            key = item.resource_name + "\0" + item.source_name
            found.append(Resolution(item.resource_name, item.source_name, None, KEPT if key in seen else FILE))
            seen.add(key)
        return found
    recorded = plan.restart.get("deps")
    if not isinstance(recorded, dict):
        return []
    state = USED if plan.restart.status == "staged" else KEPT
    found = []
    for resource, sources in _in_requires_order(plan, recorded):
        for source, info in (sources or {}).items() if isinstance(sources, dict) else ():
            run_id = info.get("config") if isinstance(info, dict) else None
            # A file source (no upstream run) was resolved when the run was made: Guild skips it.
            kept = state if run_id is not None else KEPT
            found.append(Resolution(str(resource), str(source), None if run_id is None else str(run_id), kept))
    return found


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


def declared_order(plan: RunPlan) -> list["Upstream | FileRequirement"]:
    """The plan's upstream runs and ``file:`` requirements in the order its ``requires`` lists them.

    Guild resolves (reports, places and records in the manifest) a run's
    dependencies in that order, whatever their kind. Upstream runs that no
    ``requires`` entry names (Luigi ``requires()``) come after the declared
    ones, and ``guild run -D`` files last.
    """
    opdef = plan.opdef
    positions: dict[str, int] = {}
    for req in opdef.requires if opdef is not None else []:
        positions.setdefault(req.resource_name, req.position)
    items: list[tuple[int, Upstream | FileRequirement]] = [
        (positions.get(up.resource, _UNDECLARED), up) for up in plan.upstream
    ]
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
            missing.append(up.name)
            continue
        plan.flags[flag] = run.id
        upstream.append(Upstream(run, req.uri, req.resource_name, list(req.select)))
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


def _link_one(up: Upstream, dest: str, shown: str | None, attr: dict[str, Any], lines: list[str], warn: Warn) -> None:
    """Symlink an upstream run's generated top-level files into ``dest``.

    Adds to Guild's ``deps`` attr (``attr``) and the manifest's ``d`` lines
    (``lines``). Without ``select`` patterns, a run's files that its manifest
    lists (its source code and its own dependencies) are not linked; with
    them, only names matching one (whole name). Entries already present in
    ``dest`` (the new run's own source files, or a dependency placed before)
    are left alone with a warning on stderr, as Guild does; ``.guild`` too.
    """
    run = up.run
    patterns = [re.compile(p) for p in up.select]
    skip = _listed(run) if not patterns else set()
    paths = []
    try:
        names = sorted(os.listdir(run.path))
    except OSError:
        names = []
    for name in names:
        if name.startswith(".guild") or name in skip:
            continue
        if patterns and not any(p.fullmatch(name) for p in patterns):
            continue
        target = os.path.join(dest, name)
        if os.path.lexists(target):
            warn(up.resource, "WARNING: %s already exists, skipping link" % os.path.join(shown or dest, name))
            continue
        source = os.path.join(run.path, name)
        os.symlink(source, target)
        paths.append(os.path.relpath(source, dest))
        lines.append(manifest.line("d", name, manifest.file_sha1(source), up.uri))
    # Guild keys an inline operation source by the same resolving name as its resource.
    attr.setdefault(up.resource, {})[up.resource] = {"config": run.id, "paths": paths, "uri": up.uri}


def place_all(plan: RunPlan, dest: str, shown: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """Place every dependency of the plan in the run dir ``dest``, in :func:`declared_order`.

    Upstream runs' files are linked (:func:`_link_one`), ``file:`` sources
    copied or linked (:func:`_place_one`); where two provide the same name,
    the one declared first wins. ``shown`` is the run directory named in
    warnings (``dest`` is a temporary name while the run is made). Returns
    Guild's ``deps`` attr and the manifest's ``d`` lines, in that order too.
    """
    attr: dict[str, Any] = {}
    lines: list[str] = []
    notes = plan.dep_notes

    def warn(resource: str, text: str) -> None:
        if notes is None:
            sys.stderr.write(text + "\n")
        else:
            notes.setdefault(resource, []).append(text)

    try:
        for item in declared_order(plan):
            if isinstance(item, Upstream):
                _link_one(item, dest, shown, attr, lines, warn)
            elif plan.opdef is not None:
                _place_one(item, plan.opdef, dest, shown, attr, lines, warn)
    except GuildError:
        for held in (notes or {}).values():  # no report follows a failed start: say them now
            sys.stderr.write("".join(text + "\n" for text in held))
        if notes:
            notes.clear()
        raise
    return attr, lines


def _listed(run: Run) -> set[str]:
    """Top-level names that hold files the run's manifest lists (not generated by the run)."""
    return {fields[1].split("/", 1)[0] for fields in manifest.read(run.path) or [] if len(fields) > 1}


# ------------------------------------------------------------ file sources


def _dep_error(message: str) -> DependencyError:
    return DependencyError("run failed because a dependency was not met: %s" % message)


def file_sources(req: "FileRequirement", location: str) -> list[str]:
    """The absolute paths a ``file:`` requirement resolves to under ``location`` (the guild.yml dir).

    A directory without ``select`` is one source; with ``select``, the paths
    under it (files and directories, ``/``-separated) that a pattern matches
    to the end, sorted. Raises :class:`DependencyError` when the path is missing.
    """
    src = os.path.abspath(os.path.join(location, req.path))
    if not os.path.exists(src):
        raise _dep_error(
            "could not resolve '%s' in %s resource: cannot find source file '%s'"
            % (req.source_name, req.resource_name, req.path)
        )
    if not os.path.isdir(src) or not req.select:
        return [src]
    rels = []
    for root, dirs, files in os.walk(src):
        base = os.path.relpath(root, src) if root != src else ""
        rels += [os.path.join(base, n).replace(os.sep, "/") for n in dirs + files]
    rels.sort()
    chosen: set[str] = set()
    for pattern in req.select:
        rx = re.compile(pattern + "$")
        chosen.update(os.path.join(src, r) for r in rels if rx.match(r))
    return sorted(chosen)


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
    (``lines``). A target that already exists is left alone with a warning
    on stderr, as Guild does. Raises :class:`DependencyError` for a missing
    source, a bad ``target-type`` or an absolute ``target-path``.
    """
    import shutil

    kind = req.target_type or "copy"
    if kind not in ("copy", "link"):
        raise _dep_error(
            "unsupported target-type '%s' in source %s (expected 'link' or 'copy')" % (kind, req.source_name)
        )
    if os.path.isabs(req.target_path):
        raise _dep_error(
            "invalid path '%s' in %s resource (path must be relative)" % (req.target_path, req.resource_name)
        )
    location = req.location or opdef.project_dir
    if req.source_name in attr.get(req.resource_name, {}):
        return  # an entry of the same name was resolved already (see resolutions())
    sources = file_sources(req, location)
    if not sources:
        warn(req.resource_name, "WARNING: nothing resolved for %s" % req.resource_name)
    for src in sources:
        target = os.path.join(dest, req.target_path, _renamed(os.path.basename(src), req.rename))
        if os.path.lexists(target):
            shown_target = os.path.join(shown or dest, os.path.relpath(target, dest))
            warn(req.resource_name, "WARNING: %s already exists, skipping %s" % (shown_target, kind))
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if kind == "link":
            os.symlink(os.path.relpath(src, os.path.dirname(os.path.realpath(target))), target)
        elif os.path.isdir(src):
            shutil.copytree(src, target, symlinks=True)
        else:
            shutil.copyfile(src, target)
            shutil.copymode(src, target)
        rel_target = os.path.relpath(target, dest).replace(os.sep, "/")
        sha1 = manifest.file_sha1(target) if os.path.isfile(target) else "-"
        inside = src == location or src.startswith(location.rstrip(os.sep) + os.sep)
        origin = "file:" + os.path.relpath(src, location).replace(os.sep, "/") if inside else req.uri
        lines.append(manifest.line("d", rel_target, sha1, origin))
    attr.setdefault(req.resource_name, {})[req.source_name] = {
        "paths": [os.path.relpath(src, dest) for src in sources],
        "uri": req.uri,
    }


def _renamed(name: str, rename: list[tuple[str, str]]) -> str:
    """The first ``rename`` pair that changes ``name`` wins (one substitution), as in Guild."""
    for pattern, repl in rename:
        try:
            new = re.sub(pattern, repl, name, count=1)
        except (re.error, IndexError) as e:
            raise _dep_error("error renaming source %s (%r -> %r): %s" % (name, pattern, repl, e)) from None
        if new != name:
            return new
    return name
