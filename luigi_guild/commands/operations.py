"""``guild operations``: list the operations defined in the project's guild.yml."""

from __future__ import annotations

import os

from typing import TYPE_CHECKING, Any

import click

from luigi_guild.commands.common import echo_table

if TYPE_CHECKING:
    from luigi_guild.model.opdef import OpDef


@click.command("operations")
@click.argument("filters", metavar="[FILTER...]", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Include private operations (op or model name starting with '_').")
@click.option("-i", "--installed", is_flag=True, help="Include operations of installed packages in a project directory.")
@click.option("-v", "--verbose", is_flag=True, help="Show each operation's main module, flags and further description.")
def operations(filters: tuple[str, ...], installed: bool = False, all_: bool = False, verbose: bool = False) -> None:
    """Show operations defined in guild.yml in the current directory.

    Outside a project directory, shows the operations of installed packages
    (`PACKAGE/MODEL:OP`); `--installed` adds them inside one.

    FILTER limits the list to operations whose name contains it. Operations
    of installed packages come first, then the project's; each group is sorted
    by model then operation name, as Guild sorts them.
    """
    from luigi_guild.project import guildfile

    path = os.path.join(os.getcwd(), "guild.yml")
    in_project = os.path.isfile(path)
    opdefs = [(1, op) for op in guildfile.list_ops(path)] if in_project else []
    if installed or not in_project:  # outside a project: the operations of installed Guild packages
        from luigi_guild.project import packages

        opdefs += [(0, op) for op in packages.package_ops()]
    opdefs.sort(key=lambda t: (t[0], t[1].opref.model_name, t[1].opref.op_name))
    rows: list[list[str]] = []
    details: list[list[str]] = []
    for _group, opdef in opdefs:
        name = opdef.name
        private = opdef.opref.op_name.startswith("_") or opdef.opref.model_name.startswith("_")
        if private and not all_:
            continue
        if filters and not any(f in name for f in filters):
            continue
        rows.append([name, opdef.description])
        details.append(_details(opdef))
    if not verbose:
        echo_table(rows)
        return
    from luigi_guild.commands.common import format_table

    for line, extra in zip(format_table(rows), details):
        click.echo(line)
        for item in extra:
            click.echo("  " + item)


def _details(opdef: "OpDef") -> list[str]:
    """``-v`` lines: main module, flags (``name: description (default is X)``), further description."""
    from luigi_guild.model import flags as flagslib

    flags = []
    for name in sorted(opdef.flags):
        fd = opdef.flags[name]
        desc = " " + fd.description if fd.description else ""
        flags.append("%s:%s (default is %s)" % (name, desc, _default(flagslib, fd.default)))
    details: list[str] = []
    for i, line in enumerate(opdef.details):  # Guild puts an empty item between lines
        details += [line] if i == 0 else ["", line]
    return ["main: %s" % (opdef.main or ""), "flags: %s" % _pylist(flags), "details: %s" % _pylist(details)]


def _default(flagslib: Any, val: Any) -> str:
    """A default as Guild shows it here: YAML-like, strings quoted with ' only when they would read as another type."""
    if isinstance(val, float):
        return flagslib.encode_arg([val])[1:-1]
    text: str = flagslib.encode_arg(val)
    if isinstance(val, str) and (text != val or not val):
        return "'%s'" % val
    return text


def _pylist(items: list[str]) -> str:
    """A list of strings as Guild prints one (Python's list form)."""
    return repr(items)
