"""``guild select``: print a run's id, directory or an attribute."""

from __future__ import annotations

from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.store import query as runstore
from luigi_guild.commands.filters import filter_options, pop_filter
from luigi_guild.commands.remote_opt import forward, remote_option
from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import Run


@click.command("select")
@click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
@click.option("-s", "--short-id", is_flag=True, help="Print the short id.")
@click.option("-p", "--path", "--dir", "path", is_flag=True, help="Print the run directory.")
@click.option("-a", "--attr", metavar="NAME", help="Print attribute NAME of the run.")
@click.option("-A", "--all", "all_", is_flag=True, help="Print every matching run, one per line.")
@remote_option
@filter_options
def select(
    runs: tuple[str, ...],
    short_id: bool,
    path: bool,
    attr: str | None,
    all_: bool,
    remote: str | None,
    **kw: Any,
) -> None:
    """Select a run and print its id.

    RUN is a full id, an id prefix, a 1-based index into `guild runs`, or a
    START:END slice. The default is the latest run.
    """
    if remote:
        forward(click.get_current_context(), remote, ["select"])
        return
    listed = runstore.filtered_runs(pop_filter(kw, "select"))
    if all_ or len(runs) > 1:
        chosen = runstore.select(listed, runs or [":"], "select")
    else:
        chosen = [runstore.select_one(listed, runs[0] if runs else None, "select")]
    for run in chosen:
        click.echo(_format(run, short_id, path, attr))


def _format(run: Run, short_id: bool, path: bool, attr: str | None) -> str:
    if attr:
        special = {
            "id": run.id,
            "short_id": run.short_id,
            "run_dir": run.path,
            "status": run.status,
            "operation": run.op_name,
            "label": run.label,
        }
        if attr in special:
            return special[attr]
        raw = run.read_raw_attr(attr)
        if raw is None:
            raise GuildError("no such run attribute '%s'" % attr)
        return raw.rstrip("\n")
    if path:
        return run.path
    if short_id:
        return run.short_id
    return run.id
