"""``guild install``, ``guild uninstall``, ``guild packages`` and ``guild search``: Guild packages through pip."""

from __future__ import annotations

import sys
from typing import Any

import click

from luigi_guild.commands.common import echo_table, note


def _list(all_: bool, terms: tuple[str, ...]) -> None:
    from luigi_guild.project import packages as pkgs

    echo_table([[p.name, p.version, p.summary] for p in pkgs.installed(all_, terms)])


_DELETE_HELP = "Uninstall one or more packages."


def _delete(packages: tuple[str, ...], yes: bool) -> None:
    from luigi_guild.project import packages as pkgs

    pkgs.uninstall(packages, yes)


@click.command("install")
@click.argument("packages", metavar="PACKAGE...", nargs=-1, required=True)
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade specified packages to the newest available version.")
@click.option("--reinstall", is_flag=True, help="Reinstall the package if it's already installed. Implies --upgrade.")
@click.option("--no-cache", is_flag=True, help="Don't use cached packages.")
@click.option("--no-deps", is_flag=True, help="Don't install dependencies.")
@click.option("--pre", is_flag=True, help="Install pre-release versions.")
@click.option("-t", "--target", metavar="DIR", help="Install package and requirements in DIR.")
def install(packages: tuple[str, ...], upgrade: bool, reinstall: bool, no_cache: bool, no_deps: bool,
            pre: bool, target: str | None) -> None:
    """Install one or more packages.

    A PACKAGE is a name looked up in the package index ($GUILD_PACKAGE_INDEX,
    PyPI's by default), or a path to a wheel or requirements file.
    """
    from luigi_guild.project import packages as pkgs

    pkgs.install(packages, upgrade=upgrade, reinstall=reinstall, no_cache=no_cache, no_deps=no_deps, pre=pre,
                 target=target)


def _delete_params(f: Any) -> Any:
    f = click.option("-y", "--yes", is_flag=True, help="Do not prompt before uninstalling.")(f)
    return click.argument("packages", metavar="PACKAGE...", nargs=-1, required=True)(f)


@click.command("uninstall", help=_DELETE_HELP)
@_delete_params
def uninstall(packages: tuple[str, ...], yes: bool) -> None:
    _delete(packages, yes)


class _AliasGroup(click.Group):
    """A group whose subcommands also answer to Guild's short names (``ls``, ``rm``)."""

    ALIASES = {"ls": "list", "rm": "delete"}

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(name, name))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = {v: k for k, v in self.ALIASES.items()}
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None:
                shown = "%s, %s" % (name, names[name]) if name in names else name
                rows.append((shown, cmd.get_short_help_str(limit=60)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group("packages", cls=_AliasGroup, invoke_without_command=True)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all installed Python packages.")
@click.pass_context
def packages(ctx: click.Context, all_: bool) -> None:
    """Show or manage packages.

    If COMMAND is not specified, lists packages.
    """
    if ctx.invoked_subcommand is None:
        _list(all_, ())


@packages.command("list")
@click.argument("terms", metavar="[TERM]...", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all installed Python packages.")
def packages_list(terms: tuple[str, ...], all_: bool) -> None:
    """List installed packages.

    Specify one or more TERM arguments to show packages whose name or summary
    contains every TERM.
    """
    _list(all_, terms)


@packages.command("info")
@click.argument("packages", metavar="PACKAGE...", nargs=-1, required=True)
@click.option("-v", "--verbose", is_flag=True, help="Show more information.")
@click.option("-f", "--files", is_flag=True, help="Show packages files.")
def packages_info(packages: tuple[str, ...], verbose: bool, files: bool) -> None:
    """Show information for one or more packages."""
    from luigi_guild.project import packages as pkgs

    for i, name in enumerate(packages):
        if i > 0:
            click.echo("---")
        lines = pkgs.info_lines(name, verbose, files)
        if lines is None:
            note("WARNING: unknown package %s" % name)
            continue
        for line in lines:
            click.echo(line)


@packages.command("delete", help=_DELETE_HELP)
@_delete_params
def packages_delete(packages: tuple[str, ...], yes: bool) -> None:
    _delete(packages, yes)


@click.command("search")
@click.argument("terms", metavar="TERM...", nargs=-1, required=True)
@click.option("-a", "--all", "all_", is_flag=True, help="Search all packages.")
def search(terms: tuple[str, ...], all_: bool) -> None:
    """Search for a package.

    Lists projects in the package index ($GUILD_PACKAGE_INDEX, PyPI's simple
    index by default) whose name contains every TERM.

    By default, only Guild packages are returned. To search all Python
    packages, use the `--all` option.
    """
    from luigi_guild.project import packages as pkgs

    found = pkgs.search(terms, all_)
    echo_table([[f.name, f.version, f.summary] for f in found])
    sys.stdout.flush()
