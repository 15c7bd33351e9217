"""Tar archives of directory trees: how files travel between Guild homes, and how they are safely unpacked.

Every remote kind copies runs and packages as a tar of a directory's contents
(paths relative, optionally limited to some members, minus excluded globs).
Unpacking refuses members that would land outside the destination (``..``,
absolute paths, paths through a symlink, hard links to outside), keeps
symlinks as they are without ever writing through one, skips device files
and never changes file ownership.

Standard library only.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import tarfile
import tempfile
from typing import IO, Any, Iterable, Optional, Sequence

from luigi_guild.model.errors import GuildError

__all__ = ["check_member", "copy_tree", "drop_unsafe", "extract_tar", "is_excluded", "write_tar"]


class _NoChownTarFile(tarfile.TarFile):
    """A TarFile that never changes file ownership (files belong to the local user)."""

    def chown(self, tarinfo: tarfile.TarInfo, targetpath: str, numeric_owner: bool) -> None:  # type: ignore[override]
        return None


def is_excluded(relpath: str, patterns: Sequence[str]) -> bool:
    """Whether ``relpath`` (posix, relative) or one of its parent dirs matches a pattern."""
    if not patterns:
        return False
    parts = relpath.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if any(fnmatch.fnmatchcase(prefix, p.lstrip("/")) for p in patterns):
            return True
    return False


def check_member(path: str) -> str:
    """A relative, normalised archive member path; refuses absolute paths and ``..``."""
    p = path.replace(os.sep, "/").strip("/")
    while p.startswith("./"):
        p = p[2:]
    if not p or path.startswith("/") or ".." in p.split("/"):
        raise GuildError("invalid archive member path: %r" % path)
    return p


def write_tar(
    fileobj: IO[bytes],
    root: str,
    patterns: Sequence[str],
    members: Optional[Sequence[str]] = None,
    compress: bool = True,
) -> None:
    """Write a tar of ``root``'s contents (paths relative, ``./``-free) to ``fileobj``.

    With ``members``, only those relative paths (files, or directories taken
    whole) are written; missing ones are skipped. ``compress`` gzips it.
    """
    tar = tarfile.open(fileobj=fileobj, mode="w:gz") if compress else tarfile.open(fileobj=fileobj, mode="w")
    with tar:
        if members is None:
            _add_tree(tar, root, root, patterns)
            return
        for member in members:
            full = os.path.join(root, *member.split("/"))
            if is_excluded(member, patterns):
                continue
            if os.path.isdir(full) and not os.path.islink(full):
                _add(tar, full, member)
                _add_tree(tar, root, full, patterns)
            elif os.path.lexists(full):
                _add(tar, full, member)


def _add_tree(tar: tarfile.TarFile, root: str, top: str, patterns: Sequence[str]) -> None:
    """Add everything below ``top`` (not ``top`` itself), named relative to ``root``."""
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        kept = []
        for d in sorted(dirnames):
            rel = rel_dir + d
            if is_excluded(rel, patterns):
                continue
            full = os.path.join(dirpath, d)
            _add(tar, full, rel)
            if not os.path.islink(full):
                kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = rel_dir + name
            if not is_excluded(rel, patterns):
                _add(tar, os.path.join(dirpath, name), rel)


def _add(tar: tarfile.TarFile, path: str, arcname: str) -> None:
    """Add one entry (not a directory's contents) as it is now.

    A regular file is opened first (never through a symlink) and archived with
    the size it has then, so a file that is rewritten or grows while it is read
    (a running run's output) is still archived whole. An entry that has gone
    is skipped.
    """
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            tar.add(path, arcname=arcname, recursive=False)
            return
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            tar.addfile(tar.gettarinfo(arcname=arcname, fileobj=f), f)
    except FileNotFoundError:
        pass


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def extract_tar(fileobj: IO[bytes], dest: str, patterns: Sequence[str], compressed: bool = True) -> None:
    """Unpack a tar into ``dest``, refusing members that escape it.

    Symlinks are restored as they are (like ``rsync -l``), but nothing is ever
    written through a symlink; device files are skipped. Members matching
    ``patterns`` are skipped. ``compressed``: the tar is gzip'd.
    """
    dest_real = os.path.realpath(dest)
    extract_kw: dict[str, Any] = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
    dirs: list[tuple[tarfile.TarInfo, str]] = []
    opened = _NoChownTarFile.open(fileobj=fileobj, mode="r:gz" if compressed else "r:")
    with opened as tar:
        for m in tar:
            name = m.name
            while name.startswith("./"):
                name = name[2:]
            name = name.rstrip("/")
            if name in ("", "."):
                continue
            parts = name.split("/")
            if name.startswith("/") or ".." in parts:
                raise GuildError("refusing unsafe path in archive: %s" % m.name)
            if is_excluded(name, patterns):
                continue
            if m.ischr() or m.isblk() or m.isfifo():
                continue
            target = os.path.join(dest, *parts)
            parent_real = os.path.realpath(os.path.dirname(target))
            if not _inside(parent_real, dest_real):
                raise GuildError("refusing archive member outside %s: %s" % (dest, m.name))
            if m.islnk():
                link = m.linkname
                while link.startswith("./"):
                    link = link[2:]
                link_real = os.path.realpath(os.path.join(dest, link))
                if link.startswith("/") or not _inside(link_real, dest_real):
                    raise GuildError("refusing hard link outside %s: %s" % (dest, m.name))
                m.linkname = link
            if os.path.islink(target) or (os.path.isfile(target) and m.isdir()):
                os.unlink(target)
            elif os.path.isdir(target) and not m.isdir():
                shutil.rmtree(target)
            m.name = name
            if m.isdir():
                tar.extract(m, dest, set_attrs=False, **extract_kw)
                dirs.append((m, target))
            else:
                tar.extract(m, dest, **extract_kw)
        for m, target in reversed(dirs):
            tar.chmod(m, target)
            tar.utime(m, target)


def copy_tree(
    src: str,
    dest: str,
    exclude: Iterable[str] = (),
    members: Optional[Sequence[str]] = None,
) -> None:
    """Copy the contents of directory ``src`` into ``dest`` (created if needed) on this host.

    The same rules as an archive sent to another host: an uncompressed tar
    of ``src`` (``exclude`` globs and ``members`` as for :func:`write_tar`)
    unpacked with :func:`extract_tar`. Existing files in ``dest`` are
    overwritten, none are deleted.
    """
    patterns = list(exclude)
    member_list = [check_member(m) for m in members] if members is not None else None
    with tempfile.TemporaryFile() as f:
        write_tar(f, src, patterns, member_list, compress=False)
        f.seek(0)
        os.makedirs(dest, exist_ok=True)
        extract_tar(f, dest, patterns, compressed=False)


def drop_unsafe(root: str) -> list[str]:
    """Make a copied run directory safe to use here; returns what was dropped (relative paths).

    Removes every symlink whose target (read as the kernel would from where
    the link is) lies outside ``root`` or cannot be told, and clears setuid
    and setgid bits. Nothing is followed while walking.
    """
    dropped = []
    root = os.path.normpath(os.path.abspath(root))
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    target = os.readlink(path)
                    dest = os.path.normpath(os.path.join(dirpath, target))
                    if not _inside(os.path.realpath(dest), os.path.realpath(root)) or not _inside(dest, root):
                        os.unlink(path)
                        dropped.append(os.path.relpath(path, root))
                elif st.st_mode & (stat.S_ISUID | stat.S_ISGID) and not stat.S_ISDIR(st.st_mode):
                    os.chmod(path, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
            except OSError:
                continue
    return dropped
