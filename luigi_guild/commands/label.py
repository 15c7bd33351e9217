"""``guild label`` (also ``guild runs label``): set, change or clear run labels."""

from __future__ import annotations

from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.common import note, nothing_to, preview_and_confirm
from luigi_guild.commands.filters import filter_options, selected_runs
from luigi_guild.commands.remote_opt import forward, remote_option
from luigi_guild.model.errors import GuildError


@click.command("label")
@click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
@click.option("-s", "--set", "set_", metavar="VAL", help="Set the label to VAL.")
@click.option("-p", "--prepend", metavar="VAL", help="Put VAL in front of the current label.")
@click.option("-a", "--append", metavar="VAL", help="Add VAL after the current label.")
@click.option("-rm", "--remove", metavar="VAL", multiple=True, help="Remove the word(s) VAL from the label (repeatable).")
@click.option("-c", "--clear", is_flag=True, help="Clear the label.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@remote_option
@filter_options
def label(
    runs: tuple[str, ...],
    set_: str | None,
    prepend: str | None,
    append: str | None,
    remove: tuple[str, ...],
    clear: bool,
    yes: bool,
    remote: str | None,
    **kw: Any,
) -> None:
    """Set or change the labels of runs (the latest run by default).

    VAL may use `${flag}` references to the run's flags and `${label}` for the
    current label.
    """
    from luigi_guild.store import meta as runmeta

    given = {"--set": set_ is not None, "--prepend": prepend is not None, "--append": append is not None,
             "--remove": bool(remove), "--clear": clear}
    if not any(given.values()):
        raise GuildError(
            "specify one of --set, --prepend, --append, --remove or --clear",
            hint="Try 'guild label --help' for more information.",
        )
    runmeta.check_exclusive(given)
    if remote:
        forward(click.get_current_context(), remote, ["label"])
        return
    selected = selected_runs(kw, runs, ["1"], "label")
    if not selected:
        nothing_to("No runs to modify.")
        return
    preview_and_confirm(selected, _preview(set_, prepend, append, remove, clear), "Continue?", yes, True)
    for run in selected:
        if clear:
            runmeta.set_label(run, None)
        else:
            runmeta.set_label(run, runmeta.new_label(run, set_, prepend, append, remove))
    note(("Cleared label for %d run(s)" if clear else "Labeled %d run(s)") % len(selected))


def _preview(set_: str | None, prepend: str | None, append: str | None, remove: tuple[str, ...], clear: bool) -> str:
    if set_ is not None:
        return "You are about to label the following runs with '%s':" % set_
    if prepend is not None:
        return "You are about to prepend '%s' to the label of the following runs:" % prepend
    if append is not None:
        return "You are about to append '%s' to the label of the following runs:" % append
    if remove:
        return "You are about to remove '%s' from the label of the following runs:" % " ".join(remove)
    return "You are about to clear the label of the following runs:"
