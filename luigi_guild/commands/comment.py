"""``guild comment`` (also ``guild runs comment``): add, list, delete and clear run comments."""

from __future__ import annotations

import os

from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.common import note, nothing_to, preview_and_confirm, run_rows
from luigi_guild.commands.filters import filter_options, selected_runs
from luigi_guild.model.errors import GuildError
from luigi_guild.model.table import format_table, format_timestamp
from luigi_guild.store.rundir import Run
from luigi_guild.commands.remote_opt import forward, remote_option


@click.command("comment")
@click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
@click.option("-l", "--list", "list_", is_flag=True, help="List the comments of the runs.")
@click.option("-a", "--add", metavar="TEXT", help="Add TEXT as a comment.")
@click.option("-e", "--edit", is_flag=True, help="Write the comment in an editor ($VISUAL or $EDITOR).")
@click.option("-d", "--delete", type=int, metavar="INDEX", help="Delete comment INDEX (1 is the oldest; see --list).")
@click.option("-c", "--clear", is_flag=True, help="Delete every comment of the runs.")
@click.option("-u", "--user", metavar="USER[@HOST]", help="Author of the new comment (default: you on this host).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@remote_option
@filter_options
def comment(
    runs: tuple[str, ...],
    list_: bool,
    add: str | None,
    edit: bool,
    delete: int | None,
    clear: bool,
    user: str | None,
    yes: bool,
    remote: str | None,
    **kw: Any,
) -> None:
    """Add, list or delete comments of runs (the latest run by default).

    Without --add, the comment is written in an editor; an empty comment
    changes nothing. Comments are listed by `guild runs -c` and
    `guild runs info --comments`, and selected with `-Fc`.
    """
    from luigi_guild.store import meta as runmeta

    _check_exclusive(list_=list_, add=add is not None, edit=edit, delete=delete is not None, clear=clear)
    if remote:
        if edit:
            raise GuildError("--remote and --edit cannot both be specified", hint="Try 'guild comment --help' for more information.")
        if not (list_ or add is not None or delete is not None or clear):
            raise GuildError(
                "--remote requires one of: --list, --add, --delete, --clear",
                hint="Try 'guild comment --help' for more information.",
            )
        forward(click.get_current_context(), remote, ["comment"])
        return
    if list_:
        for line in comment_listing(selected_runs(kw, runs, ["1"], "comment")):
            click.echo(line)
        return
    selected = selected_runs(kw, runs, ["1"], "comment")
    if delete is not None:
        if not selected:
            nothing_to("No runs to modify.")
            return
        preview_and_confirm(
            selected, "You are about to delete comment %d from the following runs:" % delete, "Continue?", yes, True
        )
        for run in selected:
            runmeta.delete_comment(run, delete)
        note("Deleted comment for %d run(s)" % len(selected))
        return
    if clear:
        if not selected:
            nothing_to("No runs to modify.")
            return
        preview_and_confirm(
            selected, "WARNING: You are about to delete ALL comments from the following runs:", "Continue?", yes, False
        )
        for run in selected:
            runmeta.clear_comments(run)
        note("Deleted all comments for %d run(s)" % len(selected))
        return
    if not selected:
        nothing_to("No runs to modify.")
        return
    edited = add is None or edit
    text = _edit_comment(add or "", selected) if edited else (add or "")
    text = text.strip()
    if not text:
        raise GuildError("Aborting due to an empty comment.")
    if not edited:
        preview_and_confirm(selected, "You are about to add a comment to the following runs:", "Continue?", yes, True)
    name, host = runmeta.comment_author(user)
    from luigi_guild.store.rundir import now_us

    stamp = now_us()
    for run in selected:
        runmeta.add_comment(run, text, name, host, stamp)
    note("Added comment to %d run(s)" % len(selected))


def _check_exclusive(**given: bool) -> None:
    pairs = [
        ("list_", "add"), ("list_", "delete"), ("list_", "clear"), ("add", "delete"), ("add", "clear"),
        ("edit", "delete"), ("edit", "clear"), ("delete", "clear"),
    ]
    for a, b in pairs:
        if given[a] and given[b]:
            raise GuildError(
                "--%s and --%s cannot both be specified" % (a.rstrip("_"), b),
                hint="Try 'guild comment --help' for more information.",
            )


def _edit_comment(initial: str, runs: list[Run]) -> str:
    """The comment typed in the user's editor, without ``#`` lines (the editor is the confirmation)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or (
        "/usr/bin/editor" if os.path.exists("/usr/bin/editor") else None
    )
    lines = [
        initial,
        "# Write a comment for the runs listed below. Lines that start with '#'",
        "# are left out; an empty comment changes nothing.",
        "#",
        "# Runs:",
    ]
    lines += ["#  " + line for line in format_table(run_rows(runs), "  ")]
    try:
        edited = click.edit("\n".join(lines) + "\n", editor=editor, extension=".GUILD_COMMENT")
    except click.ClickException as e:
        raise GuildError(e.format_message()) from None
    if edited is None:
        return initial
    return "\n".join(line for line in edited.splitlines() if not line.startswith("#"))


def comment_listing(runs: list[Run], indexed: bool = True, simplified: bool = False) -> list[str]:
    """Lines of ``guild comment --list`` (``indexed``) or of ``guild runs -c`` (under each row)."""
    from luigi_guild.store import meta as runmeta

    out: list[str] = []
    rows = run_rows(runs)
    if indexed:
        rows = [[r.short_id] + row[1:] for r, row in zip(runs, rows)]
    elif simplified:
        rows = [["[%d]" % i, row[1], row[3], row[4]] for i, row in enumerate(rows, 1)]
    for run, line in zip(runs, format_table(rows)):
        out.append(line)
        comments = runmeta.run_comments(run)
        if not comments and indexed:
            out.append("  <no comments>")
        for i, c in enumerate(comments, 1):
            out += _comment_lines(i, c, indexed)
    return out


def _comment_lines(index: int, c: dict, indexed: bool) -> list[str]:
    user = str(c.get("user") or "")
    host = str(c.get("host") or "")
    who = "%s@%s" % (user, host) if host else user
    try:
        when = format_timestamp(int(c.get("time") or 0))
    except (TypeError, ValueError):
        when = str(c.get("time"))
    head = "[%d] %s %s" % (index, who, when) if indexed else "  %s %s" % (who, when)
    pad = "  " if indexed else "    "
    paragraphs = [" ".join(p.split()) for p in str(c.get("body") or "").split("\n\n")]
    body: list[str] = []
    for p in paragraphs:
        if p:
            body += [pad + p, ""]
    return [head, ""] + (body or [""])


