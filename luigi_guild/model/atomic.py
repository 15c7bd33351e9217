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
