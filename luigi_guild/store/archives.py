"""Run archives: export runs to a directory or zip file, list them, import them back.

An archive directory holds one ``<run id>/`` per run, in Guild's run layout,
and an empty ``.guild-nocopy`` marker; a zip archive holds the same tree
(entries ``<id>/`` and ``<id>/<path>``). Both are what Guild 0.9 writes and
reads, so archives move between the two tools.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import zipfile

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import Run

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Callable, Iterator

NOCOPY_MARKER = ".guild-nocopy"


def is_zip(path: str) -> bool:
    """Whether ``path`` names a zip archive (by its ``.zip`` suffix, any case)."""
    return path.lower().endswith(".zip")


@contextlib.contextmanager
def open_archive(path: str, for_import: bool = False) -> Iterator[str]:
    """A runs directory with the archive's runs: the directory itself, or a zip unpacked to a temp dir."""
    if not os.path.exists(path):
        raise GuildError(("archive '%s' does not exist" if for_import else "%s does not exist") % path)
    if os.path.isdir(path):
        yield path
        return
    if not is_zip(path):
        raise GuildError("invalid archive %s - expected a directory or a zip file" % path)
    tmp = tempfile.mkdtemp(prefix="guild-archive-")
    try:
        _unzip(path, tmp)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _unzip(path: str, dest: str) -> None:
    """Extract ``path`` into ``dest``; entries that would land outside ``dest`` are refused."""
    root = os.path.realpath(dest)
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                target = os.path.realpath(os.path.join(root, info.filename))
                if target != root and not target.startswith(root + os.sep):
                    raise GuildError("invalid archive %s - entry '%s' is outside the archive" % (path, info.filename))
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    os.symlink(zf.read(info).decode("utf-8", "surrogateescape"), target)
                    continue
                zf.extract(info, root)
                if mode and not info.is_dir():
                    os.chmod(target, stat.S_IMODE(mode))
    except zipfile.BadZipFile as e:
        raise GuildError("invalid archive %s - %s" % (path, e)) from None


# ----------------------------------------------------------------- export


def export_runs(
    runs: list[Run], location: str, move: bool = False, follow_links: bool = False,
    say: Callable[[str], None] = lambda _m: None,
) -> list[Run]:
    """Copy (or move) ``runs`` into archive ``location``; the runs exported.

    A run already in the archive is skipped with a warning through ``say``.
    """
    if is_zip(location):
        return _export_zip(runs, location, move, follow_links, say)
    return _export_dir(runs, location, move, follow_links, say)


def _export_dir(runs: list[Run], dest: str, move: bool, follow_links: bool, say: Callable[[str], None]) -> list[Run]:
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise GuildError("'%s' is not a directory" % dest)
    try:
        os.makedirs(dest, exist_ok=True)
        with open(os.path.join(dest, NOCOPY_MARKER), "a"):
            pass
    except OSError as e:
        raise GuildError("cannot write export directory '%s': %s" % (dest, e.strerror or e)) from None
    done = []
    for run in runs:
        target = os.path.join(dest, run.id)
        if os.path.lexists(target):
            say("WARNING: %s exists, skipping" % target)
            continue
        say("%s %s" % ("Moving" if move else "Copying", run.id))
        _copy_tree(run.path, target, move, follow_links)
        done.append(run)
    return done


def _copy_tree(src: str, dest: str, move: bool, follow_links: bool) -> None:
    """Copy (or move) a run directory; symbolic links stay links unless ``follow_links``."""
    tmp = dest + ".tmp-%d" % os.getpid()
    try:
        if move and not follow_links:
            try:
                os.rename(src, dest)
                return
            except OSError:
                pass  # another file system: copy, then delete
        shutil.copytree(src, tmp, symlinks=not follow_links)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if move:
        shutil.rmtree(src, ignore_errors=True)


def _export_zip(runs: list[Run], path: str, move: bool, follow_links: bool, say: Callable[[str], None]) -> list[Run]:
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".guild-export-", suffix=".zip", dir=parent)
    os.close(fd)
    done = []
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as out:
            present: set[str] = set()
            if os.path.exists(path):
                try:
                    with zipfile.ZipFile(path) as old:
                        for info in old.infolist():
                            out.writestr(info, old.read(info))
                            present.add(info.filename.rstrip("/"))
                except zipfile.BadZipFile as e:
                    raise GuildError("cannot write to %s: %s" % (path, e)) from None
            for run in runs:
                if run.id in present:
                    say("WARNING: %s exists, skipping" % run.id)
                    continue
                say("%s %s" % ("Moving" if move else "Copying", run.id))
                _zip_run(out, run, follow_links)
                done.append(run)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    if move:
        for run in done:
            shutil.rmtree(run.path, ignore_errors=True)
    return done


def _zip_run(out: zipfile.ZipFile, run: Run, follow_links: bool) -> None:
    out.write(run.path, run.id)
    for root, dirs, names in os.walk(run.path, followlinks=follow_links):
        rel = os.path.relpath(root, run.path)
        base = run.id if rel == "." else "/".join([run.id] + rel.split(os.sep))
        for name in sorted(dirs) + sorted(names):
            src = os.path.join(root, name)
            arc = base + "/" + name
            if os.path.islink(src) and not follow_links:
                info = zipfile.ZipInfo(arc)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                out.writestr(info, os.readlink(src))
            else:
                out.write(src, arc)


# ----------------------------------------------------------------- import


def import_runs(
    runs: list[Run], move: bool = False, follow_links: bool = False, say: Callable[[str], None] = lambda _m: None
) -> list[Run]:
    """Copy (or move) archived ``runs`` into Guild home's runs; runs already there are skipped."""
    dest_root = home.runs_dir()
    os.makedirs(dest_root, exist_ok=True)
    done = []
    for run in runs:
        target = os.path.join(dest_root, run.id)
        if os.path.lexists(target):
            say("WARNING: %s exists, skipping" % run.id)
            continue
        say("%s %s" % ("Moving" if move else "Copying", run.id))
        _copy_tree(run.path, target, move, follow_links)
        done.append(run)
    return done
