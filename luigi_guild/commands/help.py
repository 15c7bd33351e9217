"""``guild help``: the operations of a project and their flags."""

from __future__ import annotations

import os
from typing import Any

import click

from luigi_guild.model.errors import GuildError


@click.command("help")
@click.argument("path", metavar="[PATH]", required=False)
@click.option("--package-description", is_flag=True, help="Print the operations as a package description (reStructuredText).")
@click.option("--markdown", is_flag=True, help="Print the help as Markdown.")
@click.option(
    "--base-heading-level", type=int, default=1, metavar="INTEGER",
    help="Heading level of the Markdown title (default is 1).",
)
@click.option("--title", metavar="TEXT", default="Guild AI Help", help="Title of the Markdown page.")
@click.option("-n", "--no-pager", is_flag=True, help="Print the help instead of showing it in a pager.")
def help_(
    path: str | None, no_pager: bool, package_description: bool = False, markdown: bool = False,
    base_heading_level: int = 1, title: str = "Guild AI Help",
) -> None:
    """Show the operations defined in a project's guild.yml, with their flags.

    PATH is the project directory (default: the current directory).
    `--markdown` prints a Markdown page (`--title`, `--base-heading-level`);
    `--package-description` prints reStructuredText for a package's page.
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
    if markdown or package_description:
        groups = _grouped_ops(guildfile.list_ops(gf), gf)
        text = _markdown(groups, title, base_heading_level) if markdown else _rst(groups)
        click.echo(text)
        return
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


def _grouped_ops(opdefs: list[Any], gf: str) -> list[tuple[str, str, list[Any]]]:
    """(model, description, ops): the model-less ("base") operations first, then models by name; ops by name."""
    from luigi_guild.project import guildfile

    descs = {m.name: m.description for m in guildfile.list_models(gf)}
    groups: dict[str, list[Any]] = {}
    for opdef in opdefs:
        groups.setdefault(opdef.opref.model_name, []).append(opdef)
    return [
        (model, descs.get(model) or "", sorted(groups[model], key=lambda o: o.opref.op_name)) for model in sorted(groups)
    ]


def _flag_items(opdef: Any) -> list[tuple[str, str]]:
    from luigi_guild.model import flags as flagslib

    out = []
    for name in sorted(opdef.flags):
        fd = opdef.flags[name]
        desc = fd.description or ""
        if fd.default is not None:
            desc = (desc + " (default is %s)" % flagslib.format_val(fd.default)).strip()
        out.append((name, desc))
    return out


_RST_CHARS = "#=^-`"


def _page(groups: list[tuple[str, str, list[Any]]], heading: Any, flags_block: Any) -> list[str]:
    """The sections shared by both formats: base operations, then models with their operations."""
    lines: list[str] = []

    def ops_lines(ops: list[Any], depth: int) -> None:
        nonlocal lines
        for opdef in ops:
            lines += heading(depth, opdef.opref.op_name)
            if opdef.description:
                lines.append("*%s*" % opdef.description)
            flags = _flag_items(opdef)
            if flags:
                lines += [""] + heading(depth + 1, "Flags") + flags_block(flags)
            lines.append("")

    base = [g for g in groups if not g[0]]
    models = [g for g in groups if g[0]]
    if base:
        lines += heading(0, "Base Operations") + [""]
        ops_lines(base[0][2], 1)
    if models:
        lines += heading(0, "Models") + [""]
        for model, desc, ops in models:
            lines += heading(1, model) + [""]
            if desc:
                lines += ["*%s*" % desc, ""]
            lines += heading(2, "Operations") + [""]
            ops_lines(ops, 3)
            lines.append("")
    return lines


def _markdown(groups: list[tuple[str, str, list[Any]]], title: str, level: int) -> str:
    def heading(depth: int, text: str) -> list[str]:
        n = level + 1 + depth
        return ["#" * n + " " + text] if n <= 6 else ["<h%i>%s</h%i>" % (n, text, n)]

    def flags_block(flags: list[tuple[str, str]]) -> list[str]:
        out = ["<dl>"]
        for name, desc in flags:
            out += ["<dt>%s</dt>" % name, "<dd>%s</dd>" % desc]
        return out + ["</dl>"]

    lines = ["#" * level + " " + title, ""] + heading(0, "Overview") + [""]
    lines += [
        "The operations of this project are listed below, grouped by model. Start one with",
        "`guild run [MODEL:]OPERATION [FLAG=VALUE...]`; each operation lists the flags it takes.",
        "",
    ]
    return "\n".join(lines + _page(groups, heading, flags_block))


def _rst(groups: list[tuple[str, str, list[Any]]]) -> str:
    def heading(depth: int, text: str) -> list[str]:
        return [text, _RST_CHARS[min(depth, len(_RST_CHARS) - 1)] * len(text)]

    def flags_block(flags: list[tuple[str, str]]) -> list[str]:
        out = []
        for name, desc in flags:
            out += ["**%s**" % name, "  *%s*" % desc if desc else ""]
        return out

    return "\n".join(_page(groups, heading, flags_block))
