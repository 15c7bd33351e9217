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
@click.option(
    "-p", "--pid", metavar="PID",
    help="Watch the run of process PID (its own or its starter's): a pid, a file holding one, or RUN_DIR/.guild/JOB.",
)
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
    if pid:
        if run or kw.get("filter_ops") or kw.get("filter_labels") or kw.get("filter_unlabeled"):
            raise GuildError("--pid may not be used with other options")
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


def _run_for_pid(spec: str) -> tuple[Run, int | None]:
    """The run for ``--pid``, tried as Guild tries it: a ``.guild/JOB`` path, a pid file, a pid."""
    if spec.endswith("/.guild/JOB") and spec != "/.guild/JOB":
        return Run.for_dir(spec[: -len("/.guild/JOB")]), _read_pid(spec, missing_ok=True)
    if os.path.exists(spec):
        pid = _read_pid(spec)
        assert pid is not None
        return _run_with_pid(pid), pid
    if spec.isascii() and spec.isdigit():
        return _run_with_pid(int(spec)), int(spec)
    raise GuildError("%s does not exist" % spec)


def _read_pid(path: str, missing_ok: bool = False) -> int | None:
    try:
        with open(path) as f:
            first = f.readline().strip()
    except OSError:
        if missing_ok:
            return None
        raise GuildError("cannot read %s" % path) from None
    try:
        return int(first)
    except ValueError:
        if missing_ok:
            return None
        raise GuildError("pidfile %s does not contain a valid pid" % path) from None


def _run_with_pid(pid: int) -> Run:
    """The run whose process is ``pid``, or was started by it."""
    from luigi_guild.run.stop import parent_pid
    from luigi_guild.store import query as runstore

    for run in runstore.list_runs():
        run_pid = run.lock_pid()
        if run_pid and (run_pid == pid or parent_pid(run_pid) == pid):
            return run
    raise GuildError("cannot find run for pid %i" % pid)
