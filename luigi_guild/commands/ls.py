"""``guild ls``: list a run's files."""

from __future__ import annotations

import os
from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.filters import filter_options, one_run
from luigi_guild.commands.remote_opt import forward, remote_option


# As in Guild, ``-h`` is ``--human-readable`` here, not the command's help (``--help``).
@click.command("ls", context_settings={"help_option_names": ["--help"]})
@click.argument("run", metavar="[RUN]", required=False, shell_complete=complete_runs)
@click.option("-p", "--path", "pattern", metavar="PATTERN", help="Only paths matching PATTERN (see below).")
@click.option("-a", "--all", "all_", is_flag=True, help="Include hidden files and directories (such as .guild).")
@click.option("-n", "--no-format", is_flag=True, help="Print paths only: no header, no indent.")
@click.option("-f", "--full-path", is_flag=True, help="Print absolute paths.")
@click.option("-s", "--sourcecode", is_flag=True, help="List the run's source code files.")
@click.option("-d", "--dependencies", is_flag=True, help="List the run's dependency files.")
@click.option("-g", "--generated", is_flag=True, help="List the files the run made (neither source code nor dependencies).")
@click.option(
    "-L", "--follow-links", is_flag=True,
    help="Descend into linked directories (only those inside the run or Guild home's runs).",
)
@click.option(
    "-h", "--human-readable", is_flag=True,
    help="Accepted for Guild compatibility (Guild applies it to an extended listing; no sizes are shown here).",
)
@remote_option
@filter_options
def ls(
    run: str | None,
    pattern: str | None,
    all_: bool,
    no_format: bool,
    full_path: bool,
    sourcecode: bool,
    dependencies: bool,
    generated: bool,
    follow_links: bool,
    remote: str | None,
    human_readable: bool = False,
    **kw: Any,
) -> None:
    """List the files of a run (the latest by default).

    PATTERN without wildcards names a file or directory relative to the run
    directory. With `*` or `?` it is matched part by part from the run root:
    `'*.py'` matches top-level Python files and `'.guild/LOCK*'` the lock files.
    Hidden paths are shown with --all or when PATTERN names them (`.guild/...`).
    A directory that PATTERN matches is listed with its contents.

    -s, -d and -g list files by the run's manifest: the source code it
    copied, the dependencies it resolved, and the files it made itself; they
    can be combined.
    """
    from luigi_guild.store import files as runfiles

    if remote:
        forward(click.get_current_context(), remote, ["ls"], env={"NO_HEADER_PATH": "1"})
        return
    if pattern is not None:
        runfiles.check_relative(pattern, "ls")
    chosen = one_run(kw, run, "ls")
    kinds = [k for given, k in ((sourcecode, runfiles.SOURCECODE), (dependencies, runfiles.DEPENDENCY),
                                (generated, runfiles.GENERATED)) if given]
    paths = runfiles.list_files(chosen, pattern, all_files=all_, follow_links=follow_links, kinds=kinds)
    lines = []
    if not (full_path or no_format):
        lines.append("%s:" % _header(chosen.path))
    for p in paths:
        if full_path:
            lines.append(os.path.join(chosen.path, p))
        elif no_format:
            lines.append(p)
        else:
            lines.append("  " + p)
    if lines:
        click.echo("\n".join(lines))


def _header(path: str) -> str:
    if os.environ.get("NO_HEADER_PATH") == "1":
        return os.path.basename(path)
    homedir = os.path.expanduser("~")
    if path.startswith(homedir + os.sep):
        return "~" + path[len(homedir) :]
    return path
