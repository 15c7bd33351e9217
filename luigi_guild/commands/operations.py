"""``guild operations``: list the operations defined in the project's guild.yml."""

from __future__ import annotations

import os

import click

from luigi_guild.commands.common import echo_table


@click.command("operations")
@click.argument("filters", metavar="[FILTER...]", nargs=-1)
@click.option("-i", "--installed", is_flag=True, help="Include operations of installed packages in a project directory.")
def operations(filters: tuple[str, ...], installed: bool = False) -> None:
    """Show operations defined in guild.yml in the current directory.

    Outside a project directory, shows the operations of installed packages
    (`PACKAGE/MODEL:OP`); `--installed` adds them inside one.

    FILTER limits the list to operations whose name contains it.
    """
    from luigi_guild.project import guildfile

    path = os.path.join(os.getcwd(), "guild.yml")
    in_project = os.path.isfile(path)
    opdefs = guildfile.list_ops(path) if in_project else []
    if installed or not in_project:  # outside a project: the operations of installed Guild packages
        from luigi_guild.project import packages

        opdefs += packages.package_ops()
    rows = []
    for opdef in opdefs:
        name = opdef.name
        if filters and not any(f in name for f in filters):
            continue
        rows.append([name, opdef.description])
    echo_table(rows)
