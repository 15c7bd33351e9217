"""``guild mark``: mark runs (preferred when a dependency is resolved) or clear their marks."""

from __future__ import annotations

from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.common import note, nothing_to, preview_and_confirm
from luigi_guild.commands.filters import filter_options, selected_runs


@click.command("mark")
@click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
@click.option("-c", "--clear", is_flag=True, help="Remove the mark from the runs.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@filter_options
def mark(runs: tuple[str, ...], clear: bool, yes: bool, **kw: Any) -> None:
    """Mark runs (the latest run by default), or remove marks with --clear (all marked runs by default).

    A marked run is shown with `[marked]` after its operation, selected with
    `-Fm`, and chosen before newer runs when an operation that requires its
    operation looks for an upstream run.
    """
    from luigi_guild.store import meta as runmeta

    verb = "unmark" if clear else "mark"
    if clear and not runs:
        kw["filter_marked"] = True  # --clear alone unmarks every marked run
    selected = selected_runs(kw, runs, [":"] if clear else ["1"], "mark")
    if not selected:
        nothing_to("No runs to %s." % verb)
        return
    preview_and_confirm(selected, "You are about to %s the following runs:" % verb, "Continue?", yes, True)
    for run in selected:
        runmeta.set_marked(run, not clear)
    note("%s %d run(s)" % ("Unmarked" if clear else "Marked", len(selected)))
