"""``guild models``: list the models defined in the project's guild.yml."""

from __future__ import annotations

import os

import click


@click.command("models")
@click.argument("filters", metavar="[FILTER]...", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Include private models (names starting with '_').")
@click.option(
    "-i", "--installed", is_flag=True,
    help="Show models of installed packages instead of the project's (none: packages are not supported).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show each model's source, operations and details.")
def models(filters: tuple[str, ...], all_: bool, installed: bool, verbose: bool) -> None:
    """Show the models defined in guild.yml in the current directory.

    A model's name and the first line of its description are shown. FILTER
    keeps the models whose name or description contains it (any case); with
    several, a model matching any of them is shown. Models without a name
    are not listed.
    """
    from luigi_guild.project import guildfile

    path = os.path.join(os.getcwd(), "guild.yml")
    if installed or not os.path.isfile(path):
        return
    lowered = [f.lower() for f in filters]
    shown = []
    seen: set[str] = set()
    for model in guildfile.list_models(path):
        if not model.name or model.name in seen or (model.name.startswith("_") and not all_):
            continue
        seen.add(model.name)
        first, _, rest = model.description.partition("\n")
        if lowered and not any(f in model.name.lower() or f in first.lower() for f in lowered):
            continue
        shown.append((model, first, rest.strip("\n")))
    shown.sort(key=lambda m: m[0].name)
    width = max((len(m.name) for m, _, _ in shown), default=0)
    for model, first, rest in shown:
        click.echo(("%s  %s" % (model.name.ljust(width), first)).rstrip())
        if verbose:
            click.echo("  source: %s" % model.source)
            click.echo("  operations: %s" % ", ".join(model.operations))
            for line in rest.splitlines():
                click.echo(("    " + line).rstrip() if line.strip() else "")
