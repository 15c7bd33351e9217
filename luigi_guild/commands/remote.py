"""``guild remote status|start|stop``: check a remote, start or stop it."""

from __future__ import annotations

from typing import Callable

import click

from luigi_guild.commands.common import confirm

_REMOTE_HELP = """

    REMOTE is the name of a remote in the user config (see `guild remotes`).
"""


@click.group("remote")
def remote() -> None:
    """Check, start or stop a remote."""


@remote.command("status")
@click.argument("name", metavar="REMOTE")
@click.option("-v", "--verbose", is_flag=True, help="Also show what was checked.")
def status(name: str, verbose: bool) -> None:
    from luigi_guild.remote.base import remote_for

    state = remote_for(name).status(verbose)
    click.echo("%s (%s) is available" % (name, state.where))
    for key, val in state.details:
        click.echo("  %s: %s" % (key, val))


status.help = (
    "Show whether a remote can be used.\n\nThe remote's host is contacted and its `guild` run; a"
    " remote that cannot be reached exits 2." + _REMOTE_HELP
)


@remote.command("start")
@click.argument("name", metavar="REMOTE")
@click.option("--reinit", is_flag=True, help="Run the remote's init command again on a started remote.")
@click.option("-y", "--yes", is_flag=True, help="Start without asking.")
def start(name: str, reinit: bool, yes: bool) -> None:
    from luigi_guild.remote.base import remote_for

    rem = remote_for(name)
    if reinit:
        _act(rem.reinit, "You are about to reinitialize %s" % name, True, yes)
    else:
        _act(rem.start, "You are about to start %s" % name, True, yes)


start.help = (
    "Start a remote.\n\nWith --reinit, the remote's `init` command (an ssh remote's `init:` setting)"
    " is run again." + _REMOTE_HELP
)


@remote.command("stop")
@click.argument("name", metavar="REMOTE")
@click.option("-y", "--yes", is_flag=True, help="Stop without asking.")
def stop(name: str, yes: bool) -> None:
    from luigi_guild.remote.base import remote_for

    rem = remote_for(name)
    details = rem.stop_details() or "This action may result in permanent loss of data."
    _act(rem.stop, "You are about to STOP %s\n%s" % (name, details), False, yes)


stop.help = "Stop a remote." + _REMOTE_HELP


def _act(action: Callable[[], None], prompt: str, default: bool, yes: bool) -> None:
    """Show ``prompt`` and ask (unless ``yes``); a no exits 0 without doing anything, as Guild does."""
    if not yes:
        click.echo(prompt)
        if not confirm("Continue?", default=default):
            return
    action()
