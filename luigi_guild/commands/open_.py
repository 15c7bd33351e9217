"""``guild open``: open a run's directory, a path in it, its source code or its output with a program."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from typing import Any

import click

from luigi_guild.commands.common import note
from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.filters import filter_options, one_run
from luigi_guild.model.errors import GuildError


@click.command("open")
@click.argument("run", metavar="[RUN]", required=False, shell_complete=complete_runs)
@click.option("-p", "--path", metavar="PATH", help="Open PATH, relative to the run directory (or its source code).")
@click.option("-s", "--sourcecode", is_flag=True, help="Open the run's source code directory.")
@click.option("-O", "--output", is_flag=True, help="Open the run's output (.guild/output); not with other options.")
@click.option("-c", "--cmd", metavar="CMD", help="Open with CMD (run as CMD PATH) instead of the system's opener.")
@click.option("--shell", is_flag=True, help="Start a shell ($SHELL) in the run directory or PATH.")
@click.option("--shell-cmd", metavar="CMD", help="Start shell CMD in the run directory or PATH.")
@filter_options
def open_(
    run: str | None,
    path: str | None,
    sourcecode: bool,
    output: bool,
    cmd: str | None,
    shell: bool,
    shell_cmd: str | None,
    **kw: Any,
) -> None:
    """Open a run's directory (of the latest run by default) or a path in it.

    The path is given to --cmd, else to the system's opener (xdg-open, or
    open on macOS); --shell and --shell-cmd start a shell there instead (in
    the file's directory for a file). The program's exit status is not
    checked.
    """
    hint = "Try 'guild open --help' for more information."
    if path and os.path.isabs(path):
        raise GuildError("PATH must be relative", hint=hint)
    for a, b, names in ((shell, cmd, "--shell and --cmd"), (shell_cmd, shell, "--shell-cmd and --shell"),
                        (shell_cmd, cmd, "--shell-cmd and --cmd")):
        if a and b:
            raise GuildError("%s cannot both be specified" % names, hint=hint)
    chosen = one_run(kw, run, "open")
    if output:
        if path or sourcecode:
            note("--output cannot be used with other options - ignoring other options")
        target = chosen.guild_path("output")
    else:
        if sourcecode:
            from luigi_guild.store.diff import sourcecode_dest

            root = sourcecode_dest(chosen)
        else:
            root = chosen.path
        target = os.path.join(root, path or "")
    if not os.path.lexists(target.rstrip(os.sep) or target):
        raise GuildError("%s does not exist in run %s" % (os.path.relpath(target, chosen.path), chosen.short_id))
    if shell or shell_cmd:
        _shell(target, shell_cmd or os.environ.get("SHELL") or "bash")
    else:
        _run(shlex.split(cmd) if cmd else _opener(), target)


def _opener() -> list[str]:
    if sys.platform.startswith("darwin"):
        return ["open"]
    if os.name == "posix":
        return ["xdg-open"]
    raise GuildError(
        "unsupported platform: %s %s" % (sys.platform, os.name),
        hint="Try --cmd to name a program or 'guild open --help' for more information.",
    )


def _run(argv: list[str], target: str) -> None:
    try:
        subprocess.call(argv + [target])
    except OSError as e:
        raise GuildError("cannot run '%s': %s" % (argv[0], e.strerror or e)) from None


def _shell(target: str, shell_cmd: str) -> None:
    where = os.path.dirname(target) if os.path.isfile(target) else target
    note("Running a new shell in %s\nTo exit the shell, type 'exit' and press Enter." % where)
    argv = shlex.split(shell_cmd)
    if sys.stdin.isatty():  # a terminal: give the shell its own pty, sized like ours
        import pty
        import shutil

        size = shutil.get_terminal_size()
        os.environ.update(COLUMNS=str(size.columns), LINES=str(size.lines))
        old = os.getcwd()
        os.chdir(where)
        try:
            pty.spawn(argv)
        except OSError as e:
            raise GuildError("cannot run '%s': %s" % (argv[0], e.strerror or e)) from None
        finally:
            os.chdir(old)
        return
    try:
        subprocess.call(argv, cwd=where)
    except OSError as e:
        raise GuildError("cannot run '%s': %s" % (argv[0], e.strerror or e)) from None
