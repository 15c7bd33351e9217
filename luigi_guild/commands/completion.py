"""``guild completion`` and the completers for operations, flags and run ids.

Completion uses click's own mechanism: the printed script calls back into
``guild`` with ``_GUILD_COMPLETE`` set, and click asks the completers below.
"""

from __future__ import annotations

import os

import click

SHELLS = ("bash", "zsh", "fish")
_RC_FILES = {"bash": "~/.bashrc", "zsh": "~/.zshrc", "fish": "~/.config/fish/completions/guild.fish"}


def _items(values: list[tuple[str, str]], incomplete: str) -> list:
    from click.shell_completion import CompletionItem

    return [CompletionItem(v, help=h or None) for v, h in values if v.startswith(incomplete)]


def complete_runs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """Run ids (short form) of Guild home's runs, newest first, with their operation as help."""
    from luigi_guild.store import query

    try:
        runs = query.list_runs()
    except Exception:  # completion must never break the shell
        return []
    return _items([(r.short_id, r.op_name) for r in runs], incomplete)


def _operations() -> list[tuple[str, str]]:
    ops: list[tuple[str, str]] = []
    if os.path.isfile("guild.yml"):
        from luigi_guild.project import guildfile

        try:
            ops = [(o.name, o.description) for o in guildfile.list_ops(os.path.abspath("guild.yml"))]
        except Exception:
            ops = []
    ops += [(n, "") for n in sorted(os.listdir(".")) if n.endswith(".py") and os.path.isfile(n)]
    return ops


def complete_run_args(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """``guild run`` arguments: an operation first, then ``FLAG=`` for the chosen operation's flags."""
    given = [a for a in (ctx.params.get(param.name or "") or ()) if a != incomplete]
    opspec = given[0] if given and "=" not in given[0] else None
    if opspec is None and "=" not in incomplete and not ctx.params.get("restart"):
        try:
            return _items(_operations(), incomplete)
        except OSError:
            return []
    try:
        from luigi_guild.project import operations

        opdef = operations.resolve(opspec)
    except Exception:
        return []
    return _items([("%s=" % name, fd.description) for name, fd in sorted(opdef.flags.items())], incomplete)


def completion_script(shell: str) -> str:
    """The script that makes ``shell`` complete ``guild`` commands."""
    from click.shell_completion import get_completion_class

    from luigi_guild.cli import cli

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - the choice option only allows known shells
        raise click.BadParameter(shell)
    return cls(cli, {}, "guild", "_GUILD_COMPLETE").source()


def _current_shell() -> str:
    name = os.path.basename(os.environ.get("SHELL", "bash"))
    return name if name in SHELLS else "bash"


@click.command("completion")
@click.option("-s", "--shell", type=click.Choice(SHELLS), help="Shell to complete for (default: $SHELL's).")
@click.option("-i", "--install", is_flag=True, help="Add completion to the shell's start-up file.")
@click.option("--shell-init", metavar="PATH", help="With --install: the start-up file to add it to.")
def completion(shell: str | None, install: bool, shell_init: str | None) -> None:
    """Print (or install) shell completion for guild.

    Completion covers commands, options, operations and their flags for
    `guild run`, and run ids for commands that take RUN. Without --install,
    the script is printed; source it from your shell's start-up file.
    """
    shell = shell or _current_shell()
    if shell_init and not install:
        raise click.UsageError("--shell-init can only be used with --install")
    if not install:
        click.echo(completion_script(shell), nl=False)
        return
    path = os.path.expanduser(shell_init or _RC_FILES[shell])
    if shell == "fish" and not shell_init:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(completion_script(shell))
        click.echo("Installed fish completion in %s" % path, err=True)
        return
    line = 'eval "$(_GUILD_COMPLETE=%s_source guild)"' % shell
    try:
        with open(path) as f:
            present = line in f.read()
    except FileNotFoundError:
        present = False
    if present:
        click.echo("Completion for %s is already in %s" % (shell, path), err=True)
        return
    with open(path, "a") as f:
        f.write("\n# guild command completion\n%s\n" % line)
    click.echo("Added %s completion to %s (open a new shell to use it)" % (shell, path), err=True)
