"""Atomic file writes (temp file + rename): the one file-writing primitive every layer shares.

It sits in the model layer, below everything else, because the project layer
(argparse flag caches) needs it as much as the run store does.
"""

from __future__ import annotations

import os


def write_file_atomic(path: str, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename."""
    tmp = os.path.join(os.path.dirname(path), ".tmp-" + os.urandom(6).hex())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
