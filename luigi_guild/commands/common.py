"""Formatting and option helpers shared by commands."""

from __future__ import annotations

import os
import sys
from typing import Iterable

from luigi_guild.rundir import Run
from luigi_guild.table import format_table, format_timestamp


def op_display(run: Run, cwd: str | None = None, with_dir: bool = True) -> str:
    """The operation column: a ``(dir)`` suffix when the project is not the cwd."""
    name = run.op_name
    if not with_dir:
        return name
    try:
        project = run.opref.project_dir
    except (OSError, ValueError):
        return name
    if not project:
        return name
    cwd = cwd or os.getcwd()
    if os.path.abspath(project) == os.path.abspath(cwd):
        return name
    return "%s (%s)" % (name, short_path(project, cwd))


def short_path(path: str, cwd: str) -> str:
    """``path`` relative to ``cwd`` when that is shorter, with ``~`` for home."""
    rel = os.path.relpath(path, cwd)
    homedir = os.path.expanduser("~")
    tilde = "~" + path[len(homedir) :] if path.startswith(homedir + os.sep) else path
    return min((rel, tilde, path), key=len)


def run_rows(runs: Iterable[Run], numbered: bool = True, start: int = 1, with_dir: bool = True) -> list[list[str]]:
    """Table rows ``[N:id]  op  started  status  label`` (``[id]`` when not numbered)."""
    cwd = os.getcwd()
    rows = []
    for i, run in enumerate(runs, start):
        ref = "[%d:%s]" % (i, run.short_id) if numbered else "[%s]" % run.short_id
        rows.append(
            [ref, op_display(run, cwd, with_dir), format_timestamp(run.timestamp), run.status_with_remote, run.label]
        )
    return rows


def echo_table(rows: list[list[str]], indent: str = "", err: bool = False) -> None:
    out = sys.stderr if err else sys.stdout
    for line in format_table(rows, indent):
        out.write(line + "\n")
    out.flush()


def confirm(prompt: str, default: bool = True, yes: bool = False) -> bool:
    """Ask on stderr unless ``yes``; ``(Y/n)`` or ``(y/N)`` per ``default``."""
    if yes:
        return True
    import click

    return click.confirm(prompt, default=default, err=True)
