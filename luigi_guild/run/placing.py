"""Placing dependency files in a run: choosing paths under a directory or an upstream run, and putting them in.

Shared by ``file:`` and ``operation:`` requirements (see :mod:`luigi_guild.run.deps`), as Guild
places both the same way: copied (Guild's default) or linked, under ``target-path``, renamed.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable

from luigi_guild.model.errors import GuildError
from luigi_guild.store import manifest

Warn = Callable[[str, str], None]  # (resource name, warning line)


class DependencyError(GuildError):
    """A required upstream run is missing."""


# How a dependency source of a starting run was resolved (see :class:`Resolution`).


def dep_error(message: str) -> DependencyError:
    return DependencyError("run failed because a dependency was not met: %s" % message)


def check_resolved(sources: list[str], source: str, resource: str, req: Any, warn: Warn) -> bool:
    """Guild's check that a source selected something: warn (``warn-if-empty``, the default) or fail.

    ``fail-if-empty`` raises :class:`DependencyError`, unless the entry is
    ``optional``: then it is skipped (False) with Guild's note.
    """
    if sources:
        return True
    if req is not None and req.fail_if_empty:
        message = "could not resolve '%s' in %s resource: nothing resolved for %s" % (source, resource, source)
        if getattr(req, "optional", False):
            warn(resource, "Could not resolve %s - skipping because dependency is optional" % source)
            return False
        raise dep_error(message)
    if req is None or req.warn_if_empty:
        warn(resource, "WARNING: nothing resolved for %s" % source)
    return True


def generated_top_level(path: str) -> list[str]:
    """Top-level names of a run dir holding a file the run generated, sorted (``.guild`` never).

    A file is generated when neither it nor a directory above it has a
    manifest entry (source code, dependencies). Directories are not looked
    into through links, as Guild walks a run.
    """
    listed = {os.path.normpath(fields[1]) for fields in manifest.read(path) or [] if len(fields) > 1}
    found: set[str] = set()
    for root, dirs, files in os.walk(path):
        rel = os.path.relpath(root, path) if root != path else ""
        if rel.split(os.sep, 1)[0].startswith(".guild"):
            dirs[:] = []
            continue
        top = rel.split(os.sep, 1)[0] if rel else None
        if top is not None and top in found:
            dirs[:] = []
            continue
        for name in files:
            run_rel = os.path.join(rel, name)
            if top is None and name.startswith(".guild"):
                continue
            if not _under_listed(run_rel, listed):
                found.add(top or name)
    return sorted(found)


def _under_listed(run_rel: str, listed: set[str]) -> bool:
    while run_rel:
        if run_rel in listed:
            return True
        run_rel = os.path.dirname(run_rel)
    return False


def select_under(src: str, select: list[str]) -> list[str]:
    """The paths under the directory ``src`` (files and directories, ``/``-separated relative to it)
    that a ``select`` pattern matches to the end, as absolute paths, sorted."""
    rels = []
    for root, dirs, files in os.walk(src):
        base = os.path.relpath(root, src) if root != src else ""
        rels += [os.path.join(base, n).replace(os.sep, "/") for n in dirs + files]
    rels.sort()
    chosen: set[str] = set()
    for pattern in select:
        rx = re.compile(pattern + "$")
        chosen.update(os.path.join(src, r) for r in rels if rx.match(r))
    return sorted(chosen)


def check_target(kind: str, target_path: str, source: str, resource: str) -> None:
    """Guild's checks of ``target-type`` and ``target-path``; raises :class:`DependencyError`."""
    if kind not in ("copy", "link"):
        raise dep_error("unsupported target-type '%s' in source %s (expected 'link' or 'copy')" % (kind, source))
    if os.path.isabs(target_path):
        raise dep_error("invalid path '%s' in %s resource (path must be relative)" % (target_path, resource))


def place_paths(
    sources: list[str], dest: str, shown: str | None, uri: str, resource: str, location: str,
    lines: list[str], warn: Warn, kind: str, target_path: str, rename: list[tuple[str, str]],
) -> None:
    """Put each source path in the run dir ``dest`` as Guild does, adding a manifest ``d`` line for each.

    Each goes to ``target_path/<base name, renamed>``: copied (a directory
    with its tree) or, for ``kind`` ``link``, linked with a path relative to
    the link's own directory. A target that already exists is left alone
    with a warning. The line names ``file:<path>`` for a source under
    ``location`` (the project), else ``uri``.
    """
    import shutil

    check_target(kind, target_path, uri, resource)
    for src in sources:
        target = os.path.join(dest, target_path, _renamed(os.path.basename(src), rename))
        if os.path.lexists(target):
            shown_target = os.path.join(shown or dest, os.path.relpath(target, dest))
            warn(resource, "WARNING: %s already exists, skipping %s" % (shown_target, kind))
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
        inside = bool(location) and src.startswith(location)
        origin = "file:" + os.path.relpath(src, location).replace(os.sep, "/") if inside else uri
        lines.append(manifest.line("d", rel_target, sha1, origin))


def _renamed(name: str, rename: list[tuple[str, str]]) -> str:
    """The first ``rename`` pair that changes ``name`` wins (one substitution), as in Guild."""
    for pattern, repl in rename:
        try:
            new = re.sub(pattern, repl, name, count=1)
        except (re.error, IndexError) as e:
            raise dep_error("error renaming source %s (%r -> %r): %s" % (name, pattern, repl, e)) from None
        if new != name:
            return new
    return name
