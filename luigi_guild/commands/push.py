"""``guild push REMOTE [RUN...]``: copy runs to a remote."""

from __future__ import annotations

from typing import Any, Sequence

import click

from luigi_guild.commands.common import run_rows
from luigi_guild.commands.filters import filter_options, selected_runs
from luigi_guild.commands.pull import _confirm


@click.command("push")
@click.argument("remote", metavar="REMOTE")
@click.argument("runs", metavar="[RUN...]", nargs=-1)
@click.option("-n", "--delete", is_flag=True, help="Delete files of remote copies that the local runs no longer have.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@filter_options
def push(remote: str, runs: tuple[str, ...], delete: bool, yes: bool, **kw: Any) -> None:
    """Copy local runs to REMOTE's Guild home.

    RUN is a run ID, an ID prefix, a 1-based index into the filtered list or a
    START:END slice; without RUN, all runs that pass the filters are copied.
    Lock files are not copied. With --delete, each remote copy is replaced
    whole, so files the local run no longer has go too.
    """
    from luigi_guild.remote.base import remote_for

    selected = selected_runs(kw, runs, [":"], "push")
    if not selected:  # before the remote's config is read, as always
        click.echo("Nothing to copy.", err=True)
        return

    def preview(msg: str, chosen: Sequence[Any]) -> None:
        _confirm(msg, run_rows(chosen, numbered=False), yes)

    remote_for(remote).push(selected, confirm=preview, delete=delete)
