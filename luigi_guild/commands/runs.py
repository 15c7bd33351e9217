"""``guild runs``: list runs (subcommands manage them)."""

from __future__ import annotations

from typing import Any, Callable

import click

from luigi_guild.commands.runs_list import DEFAULT_LIMIT, list_runs_cmd  # noqa: F401 (re-exported)


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
