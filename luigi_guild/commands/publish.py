"""``guild publish``: publish runs as files and Markdown pages in a directory (``published-runs`` by default)."""

from __future__ import annotations

import os
from typing import Any

import click

from luigi_guild.commands.common import nothing_to, preview_and_confirm
from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.filters import filter_options, selected_runs
from luigi_guild.model.errors import GuildError


@click.command("publish")
@click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
@click.option("-d", "--dest", metavar="DIR", help="Publish to DIR (default: published-runs).")
@click.option("-t", "--template", metavar="VAL", help="Template for each run's pages (default: the operation's, else 'default').")
@click.option("-i", "--index-template", metavar="VAL", help="Template for the index page (a file, or a directory with README.md).")
@click.option("-f", "--files", is_flag=True, help="Copy the run files the operation's 'publish: files:' rules select.")
@click.option("-a", "--all-files", is_flag=True, help="Copy every run file (not links unless --include-links).")
@click.option("-L", "--include-links", is_flag=True, help="Copy linked files and directories too (implies --files).")
@click.option("--no-md5", is_flag=True, help="Do not compute MD5 digests of files.")
@click.option("--include-batch", is_flag=True, help="Include batch runs.")
@click.option("-r", "--refresh-index", is_flag=True, help="Only rewrite the index page of DIR.")
@filter_options
@click.option("-y", "--yes", is_flag=True, help="Do not ask before publishing.")
def publish(
    runs: tuple[str, ...],
    dest: str | None,
    template: str | None,
    index_template: str | None,
    files: bool,
    all_files: bool,
    include_links: bool,
    no_md5: bool,
    include_batch: bool,
    refresh_index: bool,
    yes: bool,
    **kw: Any,
) -> None:
    """Publish runs (all runs by default) to a directory of files and Markdown pages.

    Each run gets DIR/RUN_ID/ with run.yml, flags.yml, scalars.csv,
    output.txt, sourcecode.csv and runfiles.csv, a sourcecode/ copy,
    runfiles/ when files are copied (--files, --all-files), and the pages of
    its template (README.md by default). DIR/README.md lists every published
    run. Publishing a run again replaces its directory.
    """
    from luigi_guild.store import publish as pub

    if files and all_files:
        raise GuildError("--files and --all-files cannot both be used")
    home = dest or pub.DEFAULT_DEST
    index = _index_template(index_template)
    if refresh_index:
        click.echo("Refreshing runs index in %s" % home)
        pub.refresh_index(home, index)
    else:
        cmd = click.get_current_context().command_path.split(" ", 1)[1]
        selected = selected_runs(kw, runs, [":"], cmd)
        if not include_batch:
            from luigi_guild.web.data import is_batch

            selected = [r for r in selected if not is_batch(r)]
        if not selected:
            nothing_to("No runs to publish.")
            return
        preview_and_confirm(selected, "You are about to publish the following run(s) to %s:" % home, "Continue?", yes, True)
        mode = pub.ALL_FILES if all_files else pub.OP_FILES if (files or include_links) else pub.NO_FILES
        for run in selected:
            try:
                op = run.opref.display
            except (OSError, ValueError):
                op = run.op_name
            click.echo("Publishing [%s] %s... " % (run.short_id, op), nl=False)
            try:
                run_dest = pub.publish_run(run, home, template, mode, include_links, md5s=not no_md5)
            except pub.PublishError as e:
                click.echo("")
                raise GuildError("error publishing run %s:\n%s" % (run.id, e.message)) from None
            click.echo("using %s" % pub.size_text(pub.dir_size(run_dest)))
        click.echo("Refreshing runs index")
        pub.refresh_index(home, index)
    click.echo("Published runs using %s" % pub.size_text(pub.dir_size(home)))


def _index_template(given: str | None) -> str | None:
    if not given:
        return None
    path = os.path.abspath(given)
    if not os.path.exists(path):
        raise GuildError("index template '%s' does not exist" % path)
    if os.path.isdir(path):
        readme = os.path.join(path, "README.md")
        if not os.path.exists(readme):
            raise GuildError("index template '%s' is missing README.md" % path)
        return readme
    return path
