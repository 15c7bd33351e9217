"""Help text for operations and their flags (``guild help``; shared with ``guild run --help-op``)."""

from __future__ import annotations

from luigi_guild.model import flags as flagslib
from luigi_guild.model.opdef import OpDef
from luigi_guild.model.table import format_table


def flag_lines(opdef: OpDef, indent: str = "  ") -> list[str]:
    """``Flags:`` then one ``name  description (default is X)`` line per flag, choices below."""
    if not opdef.flags:
        return []
    rows = []
    extra: dict[str, list[str]] = {}
    for name in sorted(opdef.flags):
        fd = opdef.flags[name]
        desc = fd.description or ""
        if fd.required and fd.default is None:
            desc = (desc + " (required)").strip()
        elif fd.default is not None:
            desc = (desc + " (default is %s)" % flagslib.format_val(fd.default)).strip()
        rows.append([name, desc])
        shown = fd.extra.get("choice_help")
        if shown:
            extra[name] = ["", "Choices:"] + format_table([[c, d] for c, d in shown], "  ") + [""]
        elif fd.choices:
            extra[name] = ["", "Choices:  %s" % ", ".join(flagslib.format_val(c) for c in fd.choices), ""]
    lines = ["Flags:"]
    width = max(len(r[0]) for r in rows)
    for (name, desc), line in zip(rows, format_table(rows, indent + "  ")):
        lines.append(line)
        for more in extra.get(name, []):
            lines.append((indent + "  " + " " * (width + 2) + more).rstrip())
    while lines[-1] == "":
        lines.pop()
    return lines


def operation_lines(opdef: OpDef) -> list[str]:
    """An operation's name, description and flags, as ``guild help`` lists them."""
    lines = [opdef.name]
    if opdef.description:
        lines += ["  " + line for line in opdef.description.strip().splitlines()]
    flags = flag_lines(opdef, "  ")
    if flags:
        lines += [""] + ["  " + flags[0]] + flags[1:]
    return lines


def help_op_lines(opdef: OpDef) -> list[str]:
    """``guild run OP --help-op``: usage, description, and the flags."""
    lines = ["Usage: guild run [OPTIONS] %s [FLAG]..." % opdef.name, ""]
    if opdef.description:
        lines += [opdef.description, ""]
    lines += ["Use 'guild run --help' for a list of options."]
    flags = flag_lines(opdef, "")
    if flags:
        lines += [""] + flags
    return lines


def help_model_lines(opdef: OpDef, ops: list[OpDef]) -> list[str]:
    """``guild run OP --help-model``: usage for the operation's model, then its operations (``ops``)."""
    model = opdef.opref.model_name or ""
    lines = [
        "Usage: guild run [OPTIONS] %s:OPERATION [FLAG]..." % model,
        "",
        "Use 'guild run %s:OPERATION --help-op' for help on a particular operation." % model,
    ]
    rows = [[op.opref.op_name, (op.description or "").split("\n")[0]] for op in ops]
    if rows:
        lines += ["", "Operations:"] + [line.rstrip() for line in format_table(rows, "  ")]
    return lines
