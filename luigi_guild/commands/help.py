"""``guild help``: the operations of a project and their flags."""

from __future__ import annotations

import os

import click

from luigi_guild.model.errors import GuildError


@click.command("help")
@click.argument("path", metavar="[PATH]", required=False)
@click.option("-n", "--no-pager", is_flag=True, help="Print the help instead of showing it in a pager.")
def help_(path: str | None, no_pager: bool) -> None:
    """Show the operations defined in a project's guild.yml, with their flags.

    PATH is the project directory (default: the current directory).
    """
    from luigi_guild.commands.ophelp import operation_lines
    from luigi_guild.project import guildfile

    project = os.path.abspath(path or ".")
    gf = os.path.join(project, "guild.yml")
    if not os.path.isfile(gf):
        where = "the current directory" if path is None else "'%s'" % path
        raise GuildError(
            "%s does not contain a Guild file (guild.yml)" % where,
            hint="Try specifying a project path or 'guild help --help' for help.",
        )
    lines = [
        "Operations in %s" % gf,
        "",
        "Run one with 'guild run OPERATION [FLAG=VAL...]' (MODEL:OPERATION for an operation of a model).",
        "'guild run OPERATION --help-op' shows one operation; 'guild operations' lists them.",
        "",
    ]
    for opdef in guildfile.list_ops(gf):
        lines += operation_lines(opdef) + [""]
    text = "\n".join(lines)
    if no_pager or not os.isatty(1):
        click.echo(text)
    else:
        click.echo_via_pager(text + "\n")
