"""``-r/--remote``: run a command on a remote with the remote's own ``guild``.

A command that takes ``-r REMOTE`` rebuilds its own arguments from what click
parsed (every option given on the command line, minus ``-r``) and forwards
them to the remote through :class:`luigi_guild.remote.base.Remote`, whatever
its kind. Nothing here imports Fabric: that happens only once an SSH remote
is actually used.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping, Optional, Sequence

import click
from click.core import ParameterSource


def remote_option(f: Callable) -> Callable:
    """Add ``-r/--remote REMOTE`` to a command."""
    return click.option(
        "-r", "--remote", metavar="REMOTE", help="Run the command on REMOTE (see 'guild remotes')."
    )(f)


def given_args(ctx: click.Context, skip: Sequence[str] = ("remote",)) -> list[str]:
    """The command's arguments as given: options that were set, then positionals.

    Options are written in their long form where they have one.
    """
    opts: list[str] = []
    positionals: list[str] = []
    for param in ctx.command.params:
        if param.name in skip or param.name is None:
            continue
        if ctx.get_parameter_source(param.name) in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            continue
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            values = value if isinstance(value, (list, tuple)) else [value]
            positionals += [str(v) for v in values if v is not None]
        elif isinstance(param, click.Option):
            opts += _option_args(param, value)
    if any(p.startswith("-") for p in positionals):
        positionals.insert(0, "--")
    return opts + positionals


def _option_args(param: click.Option, value: Any) -> list[str]:
    name = _preferred(param.opts)
    if param.count:
        return [name] * int(value or 0)
    if param.is_flag:
        if value:
            return [name]
        return [_preferred(param.secondary_opts)] if param.secondary_opts else []
    if param.multiple:
        out: list[str] = []
        for v in value or ():
            out += [name, str(v)]
        return out
    if value is None:
        return []
    return [name, str(value)]


def _preferred(opts: Sequence[str]) -> str:
    for o in opts:
        if o.startswith("--"):
            return o
    return opts[0]


def forward(
    ctx: click.Context,
    remote: str,
    command: Sequence[str],
    env: Optional[Mapping[str, str]] = None,
    merge_stderr: bool = False,
    prompts: bool = True,
) -> None:
    """Run ``guild COMMAND <given args>`` on ``remote`` and exit with its exit code.

    The local stdin is passed on only when the remote command may ask
    something: ``prompts`` says the command can, and ``--yes``, when the
    command has it, was not given. (Passing stdin on costs an SSH remote a
    slower way to run its command.)
    """
    from luigi_guild.remote.base import remote_for

    stdin = prompts and not ctx.params.get("yes")
    code = remote_for(remote).forward(
        [*command, *given_args(ctx)], env=env, merge_stderr=merge_stderr, stdin=stdin
    )
    sys.stdout.flush()
    if code:
        raise SystemExit(code)
