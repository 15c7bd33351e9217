"""``guild watch``: follow a run's output."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.filters import filter_options, one_run, pop_filter
from luigi_guild.commands.remote_opt import given_args, remote_option
from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import Run


@click.command("watch")
@click.argument("run", metavar="[RUN]", required=False, shell_complete=complete_runs)
@click.option("--pid", metavar="PID", help="Watch the run started by process PID (a pid or a pid file such as RUN_DIR/.guild/JOB).")
@remote_option
@filter_options
def watch(run: str | None, pid: str | None, remote: str | None, **kw: Any) -> None:
    """Show a run's output as it is written, until the run stops.

    Without RUN, watches the latest running run. A run that is not running has
    its whole output printed. Ends with the run's final status.
    """
    from luigi_guild.store import query as runstore
    from luigi_guild.run import follow as watchlib

    if remote:
        from luigi_guild.remote.base import remote_for

        code = remote_for(remote).watch(given_args(click.get_current_context()))
        if code:
            raise SystemExit(code)
        return

    wait_pid = None
    chosen: Run | None
    if pid is not None:
        chosen, wait_pid = _run_for_pid(pid)
    elif run is None:
        chosen = watchlib.latest_running(runstore.filtered_runs(pop_filter(kw, "watch")))
        if chosen is None:
            raise GuildError(
                "nothing to watch",
                hint="You can view the output of a specific run using 'guild watch RUN'.",
            )
    else:
        chosen = one_run(kw, run, "watch")
    assert chosen is not None
    if os.environ.get("NO_WATCHING_MSG") != "1":
        sys.stderr.write("Watching run %s\n" % chosen.id)
        sys.stderr.flush()
    status = watchlib.watch(chosen, sys.stdout.buffer, pid=wait_pid)
    sys.stderr.write("Run %s stopped with a status of '%s'\n" % (chosen.id, status))


def _run_for_pid(spec: str) -> tuple[Run, int]:
    from luigi_guild.store import query as runstore

    if spec.isdigit():
        pid = int(spec)
        for run in runstore.list_runs():
            if run.lock_pid() == pid:
                return run, pid
        raise GuildError("cannot find a run for pid %s" % spec)
    try:
        with open(spec) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        raise GuildError("cannot read a pid from %s" % spec) from None
    guild_dir = os.path.dirname(os.path.abspath(spec))
    if os.path.basename(guild_dir) != ".guild":
        raise GuildError("%s is not inside a run's .guild directory" % spec)
    return Run.for_dir(os.path.dirname(guild_dir)), pid
