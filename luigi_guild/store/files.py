"""Files of a run directory: listing with Guild's path patterns, safe path lookup."""

from __future__ import annotations

import fnmatch
import os
import re
from typing import Collection, Iterator

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import NotRegular, Outside, Run, open_beneath

_WILDCARD = re.compile(r"[*?\[]")


# Manifest kinds for ``guild ls -s/-d/-g``: source code, dependencies, generated (no entry).
SOURCECODE, DEPENDENCY, GENERATED = "s", "d", "g"


def list_files(
    run: Run,
    pattern: str | None = None,
    all_files: bool = False,
    follow_links: bool = False,
    kinds: Collection[str] = (),
) -> list[str]:
    """Paths under the run dir (relative, dirs ending in ``/``) that match ``pattern``, natural-sorted.

    A ``pattern`` with wildcards is matched part by part from the run root
    (``'LOCK*'`` only matches top-level names, ``'.guild/LOCK*'`` matches
    ``.guild/LOCK``), and a directory it matches brings its contents along;
    without wildcards it names a file or a directory prefix.
    Hidden paths (a part starting with ``.``) are listed only with
    ``all_files`` or when the pattern's part for them starts with ``.``.

    ``kinds`` limits the listing to files by their manifest entry: source
    code (``s``), dependencies (``d``) and generated files (``g``: no entry,
    outside ``.guild``); hidden ones are listed too, as Guild lists them.
    """
    if pattern is not None:
        check_relative(pattern, "ls")
        if os.path.normpath(pattern).split(os.sep)[0] == "..":
            raise outside_error(pattern, "ls")
    pat_parts = _split(pattern) if pattern else []
    wild = bool(pattern and _WILDCARD.search(pattern))
    index = _manifest_index(run) if kinds else {}
    found = []
    for rel, is_dir in _walk(run.path, follow_links):
        parts = rel.split("/")
        if kinds:
            kind = index.get(rel) or (None if is_dir else _parent_kind(index, parts))
            if kind is None:
                if is_dir or parts[0] == ".guild":
                    continue
                kind = GENERATED
            if kind not in kinds:
                continue
        elif not all_files and _hidden(parts, pat_parts):
            continue
        if pattern and not _match(parts, pat_parts, wild):
            continue
        found.append(rel + "/" if is_dir else rel)
    return sorted(found, key=natural_key)


def _manifest_index(run: Run) -> dict[str, str]:
    from luigi_guild.store import manifest

    index = {}
    for entry in manifest.read(run.path) or []:
        if len(entry) > 1:
            index[os.path.normpath(entry[1]).replace(os.sep, "/")] = entry[0]
    return index


def _parent_kind(index: dict[str, str], parts: list[str]) -> str | None:
    for i in range(len(parts) - 1, 0, -1):
        kind = index.get("/".join(parts[:i]))
        if kind:
            return kind
    return None


def _split(pattern: str) -> list[str]:
    return [p for p in os.path.normpath(pattern).split(os.sep) if p not in ("", ".")]


def _walk(root: str, follow_links: bool) -> Iterator[tuple[str, bool]]:
    """Every path under ``root``; with ``follow_links``, linked directories are walked too.

    Only links that lead inside the run directory or Guild home's runs (linked
    upstream runs) are walked, each real directory once: a listing never
    reads anything outside.
    """
    allowed = (os.path.realpath(root), os.path.realpath(home.runs_dir()))
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_links):
        if follow_links:
            real = os.path.realpath(dirpath)
            if real in seen or not any(_inside(real, a) for a in allowed):
                dirnames[:] = []
                continue
            seen.add(real)
        reldir = os.path.relpath(dirpath, root)
        for name in dirnames:
            yield _join(reldir, name), True
        for name in filenames:
            yield _join(reldir, name), False


def _join(reldir: str, name: str) -> str:
    return name if reldir == "." else reldir.replace(os.sep, "/") + "/" + name


def _hidden(parts: list[str], pat_parts: list[str]) -> bool:
    for i, part in enumerate(parts):
        if part.startswith("."):
            if i < len(pat_parts) and pat_parts[i].startswith("."):
                continue
            return True
    return False


def _match(parts: list[str], pat_parts: list[str], wild: bool) -> bool:
    if wild:  # a matched directory brings its contents along
        if len(parts) < len(pat_parts):
            return False
        return all(fnmatch.fnmatchcase(p, pp) for p, pp in zip(parts, pat_parts))
    return parts[: len(pat_parts)] == pat_parts


def natural_key(s: str) -> list:
    """Sort key that orders embedded numbers by value (``f2`` before ``f10``)."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", s) if t]


def check_relative(path: str, cmd: str) -> None:
    """Refuse an absolute ``path`` with Guild's message."""
    if os.path.isabs(path) or path.startswith("~"):
        raise GuildError("PATH must be relative", hint="Try 'guild %s --help' for more information." % cmd)


def open_file(run: Run, path: str, cmd: str = "cat") -> tuple[str, int]:
    """``(shown path, fd)`` of regular file ``path`` inside the run dir; refuses anything that leaves it.

    ``..`` parts may not climb out of the run directory, and links are
    followed only to files inside the run directory or Guild home's runs
    (where linked upstream runs live), checked while opening
    (:func:`~luigi_guild.store.rundir.open_beneath`): a link swapped in meanwhile
    is refused, never read through.
    """
    check_relative(path, cmd)
    joined = os.path.normpath(os.path.join(run.path, path))
    if not _inside(joined, os.path.normpath(run.path)):
        raise outside_error(path, cmd)
    try:
        return joined, open_beneath(run.path, path, (home.runs_dir(),))
    except Outside:
        raise outside_error(path, cmd) from None
    except (FileNotFoundError, NotADirectoryError):
        raise GuildError("%s does not exist" % joined) from None
    except IsADirectoryError:
        raise GuildError("%s is a directory" % joined) from None
    except NotRegular:
        raise GuildError("%s is not a regular file" % joined) from None
    except OSError as e:
        raise GuildError("cannot read %s: %s" % (joined, e.strerror)) from None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def outside_error(path: str, cmd: str) -> GuildError:
    """The error for a ``path`` that leaves the run directory."""
    return GuildError(
        "'%s' is outside the run directory" % path,
        hint="Try 'guild %s --help' for more information." % cmd,
    )
