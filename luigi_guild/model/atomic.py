"""Atomic file writes (temp file + rename): the one file-writing primitive every layer shares.

It sits in the model layer, below everything else, because the project layer
(argparse flag caches) needs it as much as the run store does.
"""

from __future__ import annotations

import os


def write_file_atomic(path: str, data: str | bytes, dir_fd: int | None = None) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename.

    The rename replaces whatever ``path`` was (a link included) and never
    writes through it. With ``dir_fd``, ``path`` is a name in that open directory.
    """
    tmp = os.path.join(os.path.dirname(path), ".tmp-" + os.urandom(6).hex())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        try:
            view = memoryview(data.encode("utf-8") if isinstance(data, str) else data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def create_replacing(name: str, dir_fd: int, mode: int = 0o644) -> int:
    """A new empty file ``name`` in directory ``dir_fd``, open for writing.

    Whatever was there (a file, a link) is removed first, and the new file is
    created exclusively, so nothing is ever written through a link.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(10):
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        try:
            return os.open(name, flags, mode, dir_fd=dir_fd)
        except FileExistsError:  # someone made it again meanwhile
            continue
    raise FileExistsError(17, "File exists", name)


# Temp files this old are left over from a writer that was killed mid-write.
STALE_TEMP_S = 60.0


def remove_stale_temps(dirpath: str, older_than: float = STALE_TEMP_S) -> None:
    """Remove ``.tmp-*`` files that :func:`write_file_atomic` left in ``dirpath`` when killed.

    Only regular files (links are not followed) last changed more than
    ``older_than`` seconds ago: a write in progress takes milliseconds.
    """
    import stat
    import time

    try:
        names = [n for n in os.listdir(dirpath) if n.startswith(".tmp-")]
    except OSError:
        return
    cutoff = time.time() - older_than
    for name in names:
        path = os.path.join(dirpath, name)
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                os.unlink(path)
        except OSError:
            pass
