"""``guild sync``: bring local copies of runs still running on a remote up to date by pulling them again."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, Sequence

from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import Run


def remote_running(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """The runs whose ``LOCK.remote`` names a remote, grouped by that remote (in listing order)."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        name = run.remote
        if name:
            groups.setdefault(name, []).append(run)
    return groups


@dataclass
class SyncResult:
    """What one sync did: runs still running on their remote, and how many runs could not be synced."""

    still_running: list[str] = field(default_factory=list)
    failed: int = 0


def sync_once(runs: Sequence[Run], say: Callable[[str], None]) -> SyncResult:
    """Re-pull every run of ``runs`` that is running on a remote.

    ``say`` gets ``Syncing RUN_ID`` for each. A remote that is no longer
    defined, or that cannot be reached, is warned about on stderr and its
    runs skipped (they stay as they were); the others are still synced.
    """
    from luigi_guild.remote.base import remote_for

    result = SyncResult()
    for name, group in remote_running(runs).items():
        ids = [r.id for r in group]
        try:
            remote = remote_for(name)
        except GuildError:
            for run_id in ids:
                _warn("cannot sync run %s: remote '%s' is not defined" % (run_id, name))
            result.failed += len(ids)
            continue
        for run_id in ids:
            say("Syncing %s" % run_id)
        try:
            result.still_running += remote.sync(ids)
        except GuildError as e:
            _warn("cannot sync %s: %s" % (", ".join(i[:8] for i in ids), e.message))
            result.still_running += ids
            result.failed += len(ids)
    return result


def _warn(msg: str) -> None:
    sys.stdout.flush()
    sys.stderr.write("WARNING: %s\n" % msg)
    sys.stderr.flush()
