"""``guild tag`` (also ``guild runs tag``): add or remove run tags."""

from __future__ import annotations

from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.common import note, nothing_to, preview_and_confirm
from luigi_guild.commands.filters import filter_options, selected_runs
from luigi_guild.model.errors import GuildError
from luigi_guild.commands.remote_opt import forward, remote_option


@click.command("tag")
@click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
@click.option("-a", "--add", metavar="TAG", multiple=True, help="Add TAG (repeatable).")
@click.option("-d", "--delete", metavar="TAG", multiple=True, help="Remove TAG (repeatable).")
@click.option("-c", "--clear", is_flag=True, help="Remove all tags.")
@click.option("-s", "--sync-labels", is_flag=True, help="Also add/remove the tags in the run labels.")
@click.option("-l", "--list-all", is_flag=True, help="List the tags of the selected runs (all runs by default).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@remote_option
@filter_options
def tag(
    runs: tuple[str, ...],
    add: tuple[str, ...],
    delete: tuple[str, ...],
    clear: bool,
    sync_labels: bool,
    list_all: bool,
    yes: bool,
    remote: str | None,
    **kw: Any,
) -> None:
    """Add or remove tags of runs (the latest run by default).

    Tags filter runs with `-Ft TAG`. Labels keep the tags they were made with
    unless --sync-labels is given.
    """
    from luigi_guild.store import meta as runmeta

    if remote:
        forward(click.get_current_context(), remote, ["tag"])
        return

    if not (add or delete or clear or list_all):
        raise GuildError(
            "specify one of --add, --delete, --clear or --list-all",
            hint="Try 'guild tag --help' for more information.",
        )
    if list_all:
        runmeta.check_exclusive({"--list-all": True, "--add": bool(add), "--delete": bool(delete), "--clear": clear})
        tags: set[str] = set()
        for run in selected_runs(kw, runs, [":"], "tag"):
            tags.update(runmeta.run_tags(run))
        for t in sorted(tags):
            click.echo(t)
        return
    selected = selected_runs(kw, runs, ["1"], "tag")
    if not selected:
        nothing_to("No runs to modify.")
        return
    sync = (
        "Labels are updated to reflect the latest tags."
        if sync_labels
        else "Labels are not updated - use --sync-labels to apply changes run labels."
    )
    preview_and_confirm(selected, "You are about to modify tags for the following runs:\n" + sync, "Continue?", yes, True)
    for run in selected:
        old = runmeta.run_tags(run)
        new = runmeta.new_tags(old, add, delete, clear)
        run.write_attr("tags", new)
        if sync_labels:
            runmeta.set_label(run, runmeta.synced_label(run.label, old, new))
    note("Modified tags for %d run(s)" % len(selected))
