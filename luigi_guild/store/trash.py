"""Deleted runs: move to ``GUILD_HOME/trash/runs``, restore, purge."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from typing import Iterable

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import Run


def delete_runs(runs: Iterable[Run], permanent: bool = False) -> int:
    """Move ``runs`` to the trash (or remove them when ``permanent``); returns the count.

    A run already in the trash under the same id is first moved aside to
    ``<id>_<random>`` with a warning, so nothing deleted earlier is lost.
    """
    count = 0
    trash = home.trash_runs_dir()
    for run in runs:
        if permanent:
            _rmtree(run.path)
        else:
            os.makedirs(trash, exist_ok=True)
            dest = os.path.join(trash, run.id)
            if os.path.lexists(dest):
                aside = "%s_%s" % (dest, uuid.uuid4().hex[:8])
                sys.stderr.write(
                    "WARNING: %s exists, moving it to %s\n" % (dest, aside)
                )
                os.rename(dest, aside)
            _move(run.path, dest)
        count += 1
    return count


def restore_runs(runs: Iterable[Run]) -> int:
    """Move trashed ``runs`` back to the runs directory; returns the count."""
    root = home.runs_dir()
    os.makedirs(root, exist_ok=True)
    count = 0
    for run in runs:
        dest = os.path.join(root, run.id)
        if os.path.lexists(dest):
            raise GuildError(
                "cannot restore run %s: a run with that ID already exists in %s" % (run.id, root)
            )
        _move(run.path, dest)
        count += 1
    return count


def purge_runs(runs: Iterable[Run]) -> int:
    """Remove trashed ``runs`` for good; returns the count."""
    count = 0
    for run in runs:
        _rmtree(run.path)
        count += 1
    return count


def _move(src: str, dest: str) -> None:
    try:
        os.rename(src, dest)
    except OSError:
        try:
            shutil.move(src, dest)
        except OSError as e:
            raise GuildError("cannot move %s to %s: %s" % (src, dest, e.strerror or e)) from None


def _rmtree(path: str) -> None:
    if os.path.islink(path):
        os.unlink(path)
        return
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise GuildError("cannot delete %s: %s" % (path, e.strerror or e)) from None
