"""A run's ``.guild/manifest``: one line per source-code (``s``) or dependency (``d``) file, as Guild writes it."""

from __future__ import annotations

import hashlib
import os
import shlex
from typing import Iterable

MANIFEST = os.path.join(".guild", "manifest")


def line(kind: str, *args: str) -> str:
    """One manifest entry: shell-quoted fields joined by single spaces, ending in a newline."""
    return " ".join(shlex.quote(a) for a in (kind, *args)) + "\n"


def append(run_dir: str, entries: Iterable[str]) -> None:
    """Append ``entries`` (made by :func:`line`) to the run's manifest, creating it when missing."""
    # Never through a link: a manifest that is a symlink refuses the open (ELOOP) instead.
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(os.path.join(run_dir, MANIFEST), flags, 0o644)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.writelines(entries)


def read(run_dir: str) -> list[list[str]] | None:
    """The manifest's entries as field lists; None when the run has no manifest."""
    try:
        with open(os.path.join(run_dir, MANIFEST), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    entries = []
    for raw in text.splitlines():
        try:
            fields = shlex.split(raw)
        except ValueError:
            continue
        if fields:
            entries.append(fields)
    return entries


def file_sha1(path: str) -> str:
    """The sha1 of a file's bytes (``-`` for a directory), as manifest entries record it."""
    if os.path.isdir(path):
        return "-"
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
