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
    _clean_leftovers(home.runs_dir())
    for run in runs:
        if run.starting:
            # Its creator would go on writing into a run that has moved.
            sys.stderr.write("WARNING: run %s is starting: not deleted (delete it once it runs)\n" % run.id)
            continue
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
    _clean_leftovers(home.trash_runs_dir())
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


# A run being removed for good is first renamed to a hidden ``.deleting-`` name
# (listings ignore hidden entries), so a removal killed midway never leaves a
# half-deleted run listed; what it leaves is removed by the next rm or purge.
DELETING_PREFIX = ".deleting-"


def _rmtree(path: str) -> None:
    if os.path.islink(path):
        os.unlink(path)
        return
    aside = os.path.join(os.path.dirname(path), "%s%s-%s" % (DELETING_PREFIX, os.path.basename(path), uuid.uuid4().hex[:8]))
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    except OSError as e:
        raise GuildError("cannot delete %s: %s" % (path, e.strerror or e)) from None
    try:
        shutil.rmtree(aside)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise GuildError("cannot delete %s: %s" % (path, e.strerror or e)) from None


def _clean_leftovers(root: str) -> None:
    """Finish removals that were killed midway (hidden ``.deleting-*`` directories)."""
    try:
        names = [n for n in os.listdir(root) if n.startswith(DELETING_PREFIX)]
    except OSError:
        return
    for name in names:
        path = os.path.join(root, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
