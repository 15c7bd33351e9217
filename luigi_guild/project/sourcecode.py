"""Copy an operation's source files into a new run directory."""

from __future__ import annotations

import hashlib
import os
import sys

MAX_FILE_SIZE = 1024 * 1024
MAX_FILES = 100
_SKIP_DIRS = {"__pycache__", "build", "dist", "node_modules"}


def _is_venv(path: str) -> bool:
    return os.path.exists(os.path.join(path, "pyvenv.cfg")) or os.path.exists(
        os.path.join(path, "bin", "activate")
    )


def source_files(root: str, warn: bool = False) -> list[str]:
    """Relative paths of files to copy: no dot-dirs, venvs, build output or files over 1 MiB.

    At most :data:`MAX_FILES`; with ``warn``, says on stderr when more were found.
    """
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in _SKIP_DIRS
            and not d.endswith(".egg-info")
            and not _is_venv(os.path.join(dirpath, d))
        )
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(dirpath, name)
            try:
                if os.path.islink(path) or os.path.getsize(path) > MAX_FILE_SIZE:
                    continue
            except OSError:
                continue
            if len(found) >= MAX_FILES:
                if warn:
                    sys.stderr.write(
                        "WARNING: %s has more than %d source files: only the first %d are copied "
                        "(name the files to copy under 'sourcecode' in guild.yml)\n" % (root, MAX_FILES, MAX_FILES)
                    )
                return found
            found.append(os.path.relpath(path, root))
    return found


def copy_source(root: str, dest: str) -> tuple[str | None, list[tuple[str, str]]]:
    """Copy source files from ``root`` to ``dest``.

    Returns Guild's ``sourcecode_digest`` (None when nothing was copied) and
    ``(relative path, sha1)`` per file in copy order, for the manifest.
    """
    copied: list[tuple[str, str]] = []
    for rel in source_files(root, warn=True):
        src = os.path.join(root, rel)
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(src, "rb") as f:
            data = f.read()
        with open(dst, "wb") as f:
            f.write(data)
        copied.append((rel, hashlib.sha1(data).hexdigest()))
    return digest(dest, [rel for rel, _sha in copied]), copied


def digest(run_dir: str, paths: list[str]) -> str | None:
    """Guild's ``sourcecode_digest`` of the files ``paths`` (run-relative) in ``run_dir``.

    md5 over the paths in code-point order, each as ``path NUL bytes NUL``
    (``/`` separators); duplicates count twice, as in Guild. None for no paths.
    """
    if not paths:
        return None
    md5 = hashlib.md5()
    for rel in sorted(paths):
        md5.update(rel.replace(os.sep, "/").encode("utf-8"))
        md5.update(b"\0")
        with open(os.path.join(run_dir, rel), "rb") as f:
            md5.update(f.read())
        md5.update(b"\0")
    return md5.hexdigest()
