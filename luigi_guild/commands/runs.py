"""``guild runs``: list runs (subcommands manage them)."""

from __future__ import annotations

import sys
from typing import Any, Callable

import click

from luigi_guild.commands.common import echo_table, run_rows
from luigi_guild.runindex import RunIndex

DEFAULT_LIMIT = 20


def list_options(f: Callable) -> Callable:
    """Options shared by ``guild runs`` and ``guild runs list``."""
    for opt in reversed(
        [
            click.option("-a", "--all", "all_", is_flag=True, help="Show all runs."),
            click.option("-m", "--more", count=True, help="Show 20 more runs (repeat for more)."),
            click.option("-n", "--limit", type=int, metavar="N", help="Show at most N runs."),
        ]
    ):
        f = opt(f)
    return f


def list_runs_cmd(all_: bool = False, more: int = 0, limit: int | None = None, **_: Any) -> None:
    """Print the run table newest first, with Guild's note when it is cut."""
    index = RunIndex.load()
    runs = index.runs()
    total = len(runs)
    if all_:
        shown = runs
    elif limit is not None:
        shown = runs[: max(limit, 0)]
    else:
        shown = runs[: DEFAULT_LIMIT * (1 + more)]
    rows = run_rows(index.snapshot(shown))
    index.save()
    echo_table(rows)
    if not all_ and limit is None and len(shown) < total:
        sys.stderr.write(
            "Showing the first %d runs (%d total) - use --all to show all or -m to show more\n" % (len(shown), total)
        )


@click.group("runs", invoke_without_command=True)
@list_options
@click.pass_context
def runs(ctx: click.Context, **kw: Any) -> None:
    """Show or manage runs.

    Without a subcommand, lists runs like `guild runs list`.
    """
    if ctx.invoked_subcommand is None:
        list_runs_cmd(**kw)


@runs.command("list")
@list_options
def list_(**kw: Any) -> None:
    """List runs, newest first."""
    list_runs_cmd(**kw)
