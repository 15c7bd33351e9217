"""``guild models``: list the models defined in the project's guild.yml."""

from __future__ import annotations

import os

import click


@click.command("models")
@click.argument("filters", metavar="[FILTER]...", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Include private models (names starting with '_').")
@click.option(
    "-i", "--installed", is_flag=True,
    help="Show the models of installed Guild packages (also shown outside a project directory).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show each model's source, operations and details.")
def models(filters: tuple[str, ...], all_: bool, installed: bool, verbose: bool) -> None:
    """Show the models defined in guild.yml in the current directory.

    Outside a project directory, or with --installed, the models of
    installed Guild packages are shown instead, as PACKAGE/MODEL. A model's
    name and the first line of its description are shown. FILTER keeps the
    models whose name or description contains it (any case); with several,
    a model matching any of them is shown. Models without a name are not
    listed.
    """
    from luigi_guild.project import guildfile

    path = os.path.join(os.getcwd(), "guild.yml")
    sources: list[tuple[str, str]] = []  # (name prefix, guild.yml)
    if installed or not os.path.isfile(path):
        from luigi_guild.project import packages

        sources = [(name + "/", yml) for name, _version, yml in packages.guild_packages_with_ops()]
    else:
        sources = [("", path)]
    lowered = [f.lower() for f in filters]
    shown = []
    seen: set[str] = set()
    for prefix, yml in sources:
        for model in guildfile.list_models(yml):
            fullname = prefix + model.name
            if not model.name or fullname in seen or (model.name.startswith("_") and not all_):
                continue
            seen.add(fullname)
            first, _, rest = model.description.partition("\n")
            if lowered and not any(f in fullname.lower() or f in first.lower() for f in lowered):
                continue
            shown.append((fullname, model, first, rest.strip("\n")))
    shown.sort(key=lambda m: m[0])
    width = max((len(name) for name, _, _, _ in shown), default=0)
    for fullname, model, first, rest in shown:
        click.echo(("%s  %s" % (fullname.ljust(width), first)).rstrip())
        if verbose:
            click.echo("  source: %s" % model.source)
            click.echo("  operations: %s" % ", ".join(model.operations))
            for line in rest.splitlines():
                click.echo(("    " + line).rstrip() if line.strip() else "")
