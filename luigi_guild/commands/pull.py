"""``guild pull REMOTE [RUN...]``: copy runs from a remote."""

from __future__ import annotations

import sys
from typing import Any, Sequence

import click

from luigi_guild.commands.common import confirm, echo_table
from luigi_guild.commands.filters import filter_options
from luigi_guild.commands.remote_opt import given_args
from luigi_guild.model import exitcodes


@click.command("pull")
@click.argument("remote", metavar="REMOTE")
@click.argument("runs", metavar="[RUN...]", nargs=-1)
@click.option("-d", "--delete", is_flag=True, help="Delete files of local copies that the remote runs no longer have.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@filter_options
@click.pass_context
def pull(ctx: click.Context, remote: str, runs: tuple[str, ...], delete: bool, yes: bool, **kw: Any) -> None:
    """Copy runs from REMOTE into the local Guild home.

    RUN selects among the remote's runs as `guild runs -r REMOTE` lists them
    (with the same filters): an index, a run ID or ID prefix, or a START:END
    slice. Without RUN, all the remote's runs that pass the filters are
    copied. Lock files are not copied: a run still running on REMOTE is
    marked with `.guild/LOCK.remote` and lists as `running (REMOTE)` until a
    later pull (or `guild sync`) copies it finished.
    """
    from luigi_guild.remote.base import remote_for, remote_rows

    def preview(msg: str, selected: Sequence[Any]) -> None:
        _confirm(msg, remote_rows(selected), yes)

    filters = given_args(ctx, skip=("remote", "runs", "delete", "yes"))
    remote_for(remote).pull(runs, confirm=preview, filters=filters, delete=delete)


def _confirm(msg: str, rows: list[list[str]], yes: bool) -> None:
    """Guild's copy preview on stderr, then ``Continue? (Y/n)`` (skipped with ``yes``)."""
    if yes:
        return
    sys.stderr.write(msg + "\n")
    echo_table(rows, indent="  ", err=True)
    if not confirm("Continue?", default=True):
        raise SystemExit(exitcodes.ABORTED)
