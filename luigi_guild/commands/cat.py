"""``guild cat``: print a file of a run."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.filters import filter_options, one_run
from luigi_guild.commands.remote_opt import forward, remote_option
from luigi_guild.model.errors import GuildError


@click.command("cat")
@click.argument("run", metavar="[RUN]", required=False, shell_complete=complete_runs)
@click.option("-p", "--path", metavar="PATH", help="File to print, relative to the run directory.")
@click.option("-O", "--output", is_flag=True, help="Print the run's output (.guild/output).")
@click.option(
    "-s", "--sourcecode", is_flag=True, help="PATH is relative to the run's copy of the source code (its sourcecode dest)."
)
@click.option("-pa", "--page", is_flag=True, help="Show the file in a pager (on a terminal; else print it).")
@remote_option
@filter_options
def cat(
    run: str | None, path: str | None, output: bool, sourcecode: bool, remote: str | None, page: bool = False,
    **kw: Any,
) -> None:
    """Print a run file (of the latest run by default).

    PATH must be relative and stay inside the run directory: absolute paths,
    `..` that climbs out and links that lead outside Guild home's runs are
    refused without reading anything.
    """
    from luigi_guild.store import files as runfiles

    if remote:
        forward(click.get_current_context(), remote, ["cat"], prompts=False)
        return
    if not path and not output:
        raise GuildError(
            "-p / --path is required unless --output is specified",
            hint="Try 'guild cat --help' for more information.",
        )
    if path:
        runfiles.check_relative(path, "cat")
    chosen = one_run(kw, run, "cat")
    if output:
        path = ".guild/output"
    elif sourcecode:
        from luigi_guild.store.diff import sourcecode_dest

        dest = os.path.relpath(sourcecode_dest(chosen), chosen.path)
        joined = os.path.normpath(os.path.join(dest, path or ""))
        if joined.split(os.sep)[0] == "..":
            raise runfiles.outside_error(path or "", "cat")
        path = joined
    _shown, fd = runfiles.open_file(chosen, path or "", "cat")
    with os.fdopen(fd, "rb") as f:
        if page:  # click's pager: $PAGER (or less/more) on a terminal, plain output otherwise
            click.echo_via_pager(f.read().decode("utf-8", "replace"))
            return
        shutil.copyfileobj(f, sys.stdout.buffer)
    sys.stdout.flush()
