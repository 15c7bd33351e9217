"""``guild cat``: print a file of a run."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import click

from luigi_guild.commands.filters import filter_options, one_run
from luigi_guild.commands.remote_opt import forward, remote_option
from luigi_guild.model.errors import GuildError


@click.command("cat")
@click.argument("run", metavar="[RUN]", required=False)
@click.option("-p", "--path", metavar="PATH", help="File to print, relative to the run directory.")
@click.option("-O", "--output", is_flag=True, help="Print the run's output (.guild/output).")
@remote_option
@filter_options
def cat(run: str | None, path: str | None, output: bool, remote: str | None, **kw: Any) -> None:
    """Print a run file (of the latest run by default).

    PATH must be relative and stay inside the run directory: absolute paths,
    `..` that climbs out and links that lead outside Guild home's runs are
    refused without reading anything.
    """
    from luigi_guild.store import files as runfiles

    if remote:
        forward(click.get_current_context(), remote, ["cat"])
        return
    if not path and not output:
        raise GuildError(
            "-p / --path is required unless --output is specified",
            hint="Try 'guild cat --help' for more information.",
        )
    if path:
        runfiles.check_relative(path, "cat")
    chosen = one_run(kw, run, "cat")
    _shown, fd = runfiles.open_file(chosen, ".guild/output" if output else path or "", "cat")
    with os.fdopen(fd, "rb") as f:
        shutil.copyfileobj(f, sys.stdout.buffer)
    sys.stdout.flush()
