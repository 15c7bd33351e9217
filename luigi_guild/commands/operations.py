"""``guild operations``: list the operations defined in the project's guild.yml."""

from __future__ import annotations

import os

import click

from luigi_guild.commands.common import echo_table


@click.command("operations")
@click.argument("filters", metavar="[FILTER...]", nargs=-1)
def operations(filters: tuple[str, ...]) -> None:
    """Show operations defined in guild.yml in the current directory.

    FILTER limits the list to operations whose name contains it.
    """
    from luigi_guild.project import guildfile

    path = os.path.join(os.getcwd(), "guild.yml")
    if not os.path.isfile(path):
        return
    rows = []
    for opdef in guildfile.list_ops(path):
        name = opdef.name
        if filters and not any(f in name for f in filters):
            continue
        rows.append([name, opdef.description])
    echo_table(rows)
