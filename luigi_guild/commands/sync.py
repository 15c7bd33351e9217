"""``guild sync [RUN...]``: pull again the runs that were still running on a remote when pulled."""

from __future__ import annotations

import time
from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.filters import filter_options, selected_runs
from luigi_guild.model.errors import GuildError


@click.command("sync")
@click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
@click.option("-w", "--watch", is_flag=True, help="Keep syncing until none of the runs is running on its remote.")
@click.option(
    "-n", "--interval", type=click.IntRange(min=1), default=60, metavar="SECONDS",
    help="Seconds between syncs with --watch (default is 60).",
)
@filter_options
def sync(runs: tuple[str, ...], watch: bool, interval: int, **kw: Any) -> None:
    """Update runs that are running on a remote.

    A run pulled while it was still running on a remote lists as `running
    (REMOTE)`. Sync pulls each such run again from that remote: new output
    and files come over, and a run that has stopped there gets its final
    status here. Runs that are not running on a remote are left alone.

    RUN is a run ID, an ID prefix, a 1-based index into the filtered list or a
    START:END slice; without RUN, every run that passes the filters is
    considered. With --watch, syncing repeats every --interval seconds until
    none of them is running on its remote.
    """
    from luigi_guild.remote.sync import sync_once

    selected = selected_runs(kw, runs, [":"], "sync")
    ids = {r.id for r in selected}
    while True:
        result = sync_once(selected, click.echo)
        if not watch:
            if result.failed:
                raise GuildError("%d run(s) could not be synced" % result.failed)
            return
        if not result.still_running:
            return
        time.sleep(interval)
        selected = [r for r in _reload(ids) if r.id in result.still_running]


def _reload(ids: set[str]) -> list[Any]:
    """The runs ``ids`` as they are now (pulled runs change on disk)."""
    from luigi_guild.store import query as runstore

    return [r for r in runstore.list_runs() if r.id in ids]
