"""``guild export`` and ``guild import``: move runs to and from archives (a directory or a zip file)."""

from __future__ import annotations

import os
from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.common import confirm, note, nothing_to, preview_and_confirm
from luigi_guild.commands.filters import filter_options, selected_from, selected_runs
from luigi_guild.model import exitcodes
from luigi_guild.model.errors import GuildError


def _confirm_resources(copy_resources: bool, yes: bool) -> None:
    if copy_resources and not yes:
        note("WARNING: You specified --copy-resources, which will copy resources used by each run.")
        if not confirm("Really copy resources exported runs?", default=True):
            raise SystemExit(exitcodes.ABORTED)


@click.command("export")
@click.argument("location", metavar="LOCATION")
@click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
@click.option("-m", "--move", is_flag=True, help="Move the runs instead of copying them.")
@click.option(
    "-r", "--copy-resources", is_flag=True,
    help="Copy the files that links in the runs point to, instead of the links.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@filter_options
def export(location: str, runs: tuple[str, ...], move: bool, copy_resources: bool, yes: bool, **kw: Any) -> None:
    """Copy or move runs to an archive (all runs by default).

    LOCATION is a directory (created when missing) or a file ending in
    `.zip`; an existing zip keeps the runs it holds. Runs already in the
    archive are skipped. List an archive with `guild runs --archive LOCATION`
    and bring runs back with `guild import`.
    """
    from luigi_guild.store import archives

    selected = selected_runs(kw, runs, [":"], "export")
    if not selected:
        nothing_to("No runs to export.")
        return
    verb = "move" if move else "copy"
    preview_and_confirm(selected, "You are about to %s the following runs to '%s':" % (verb, location), "Continue?", yes, True)
    _confirm_resources(copy_resources, yes)
    done = archives.export_runs(selected, location, move=move, follow_links=copy_resources, say=note)
    note("Exported %d run(s) to %s" % (len(done), location))


@click.command("import")
@click.argument("archive", metavar="ARCHIVE")
@click.argument("runs", metavar="[RUN...]", nargs=-1)
@click.option("-m", "--move", is_flag=True, help="Move the runs out of the archive instead of copying them.")
@click.option(
    "--copy-resources", is_flag=True, help="Copy the files that links in the runs point to, instead of the links."
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@filter_options
def import_(archive: str, runs: tuple[str, ...], move: bool, copy_resources: bool, yes: bool, **kw: Any) -> None:
    """Import runs from an archive made by `guild export` (all its runs by default).

    ARCHIVE is a directory or a zip file. RUN and the filters select from
    the archive's runs, as `guild runs --archive ARCHIVE` lists them. Runs
    already in Guild home are skipped.
    """
    from luigi_guild.store import archives
    from luigi_guild.store import query

    if not os.path.exists(archive):
        raise GuildError("archive '%s' does not exist" % archive)
    if archives.is_zip(archive):
        if move:
            raise GuildError("'--move' cannot be used with zip archives")
    elif not os.path.isdir(archive):
        raise GuildError("invalid archive %s - expected a directory or a zip file" % archive)
    with archives.open_archive(archive, for_import=True) as root:
        selected = selected_from(kw, query.archive_runs(root), runs, [":"], "import")
        if not selected:
            nothing_to("No runs to import.")
            return
        verb = "move" if move else "copy"
        preview_and_confirm(
            selected, "You are about to import (%s) the following runs from '%s':" % (verb, archive), "Continue?", yes,
            True,
        )
        _confirm_resources(copy_resources, yes)
        done = archives.import_runs(selected, move=move, follow_links=copy_resources, say=note)
    note("Imported %d run(s) from %s" % (len(done), archive))
