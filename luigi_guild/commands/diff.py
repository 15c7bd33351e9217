"""``guild diff``: run a diff program over two runs, or a run and a directory."""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.common import note
from luigi_guild.commands.filters import filter_options, one_run
from luigi_guild.model.errors import GuildError
from luigi_guild.commands.remote_opt import forward, remote_option


@click.command("diff")
@click.argument("run", metavar="[RUN]", required=False, shell_complete=complete_runs)
@click.argument("other_run", metavar="[RUN]", required=False, shell_complete=complete_runs)
@click.option("-O", "--output", is_flag=True, help="Diff the runs' output (.guild/output).")
@click.option("-s", "--sourcecode", is_flag=True, help="Diff the runs' copies of the source code.")
@click.option("-e", "--env", is_flag=True, help="Diff the runs' environments (attr env).")
@click.option("-f", "--flags", is_flag=True, help="Diff the runs' flags (attr flags).")
@click.option("-D", "--deps", is_flag=True, help="Diff the runs' dependencies (attr deps).")
@click.option("-a", "--attrs", is_flag=True, help="Diff all of the runs' attributes (.guild/attrs).")
@click.option("-p", "--path", "paths", metavar="PATH", multiple=True, help="Diff PATH, relative to each run (repeatable).")
@click.option("-w", "--working", is_flag=True, help="Diff the run's source code against the project it came from.")
@click.option("-d", "--dir", "dir_", metavar="PATH", help="Diff the run against directory PATH.")
@click.option("-c", "--cmd", metavar="CMD", help="Diff program to run as CMD PATH1 PATH2 (default: see below).")
@remote_option
@filter_options
def diff(
    run: str | None,
    other_run: str | None,
    output: bool,
    sourcecode: bool,
    env: bool,
    flags: bool,
    deps: bool,
    attrs: bool,
    paths: tuple[str, ...],
    working: bool,
    dir_: str | None,
    cmd: str | None,
    remote: str | None,
    **kw: Any,
) -> None:
    """Compare two runs (the two latest by default) with a diff program.

    With --working or --dir, one run (the latest by default) is compared
    with its project's source or with a directory. The program is --cmd,
    else `diff: command:` in the user config, else the first of meld,
    xxdiff, dirdiff and colordiff found on PATH, else `diff -ru`. Its exit
    status is not checked.
    """
    from luigi_guild.store import diff as difflib

    if remote:
        forward(click.get_current_context(), remote, ["diff"])
        return

    if working and dir_:
        raise GuildError("--working and --dir cannot both be specified", hint="Try 'guild diff --help' for more information.")
    if working and sourcecode:
        raise GuildError(
            "--working and --sourcecode cannot both be specified", hint="Try 'guild diff --help' for more information."
        )
    single = bool(working or dir_)
    if run is None:
        run, other_run = ("1", None) if single else ("2", "1")
    elif other_run is None and not single:
        raise GuildError(
            "diff requires two runs",
            hint="Try specifying a second RUN or 'guild diff --help' for more information.",
        )
    elif other_run is not None and single:
        raise GuildError("cannot specify second RUN and %s" % ("--dir" if dir_ else "--working"))
    if single:
        chosen = one_run(dict(kw), run, "diff")
        if dir_:
            pairs = difflib.dir_pairs(chosen.path, os.path.abspath(dir_), list(paths))
        else:
            work = difflib.working_dir(chosen)
            if not work:
                raise GuildError(
                    "cannot find working source code directory for run %s" % chosen.short_id,
                    hint="Try specifying the directory with 'guild diff %s --dir DIR'." % chosen.short_id,
                )
            pairs = difflib.dir_pairs(difflib.sourcecode_dest(chosen), work, list(paths))
    else:
        assert other_run is not None
        first = one_run(dict(kw), run, "diff")
        second = one_run(dict(kw), other_run, "diff")
        if attrs:
            for given, name in ((env, "env"), (flags, "flags"), (deps, "deps")):
                if given:
                    note("WARNING: ignoring --%s (already included in --attrs)" % name)
        pairs = difflib.run_pairs(first, second, list(paths), attrs, env, flags, deps, output, sourcecode)
    config = _user_config()
    for a, b in pairs:
        argv = shlex.split(difflib.diff_command(a, cmd, config)) + [a, b]
        try:
            subprocess.call(argv)
        except OSError as e:
            raise GuildError("error running '%s': %s" % (" ".join(argv), e.strerror or e)) from None


def _user_config() -> dict[str, Any]:
    from luigi_guild.remote.config import load_user_config

    return load_user_config()[0]
