"""Formatting and option helpers shared by commands."""

from __future__ import annotations

import os
import sys

from luigi_guild.model import exitcodes
from luigi_guild.model.table import format_table, format_timestamp
from luigi_guild.store.rundir import Run

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Iterable


def op_display(run: Run, cwd: str | None = None, with_dir: bool = True, memo: dict | None = None) -> str:
    """The operation column: a ``(dir)`` suffix when the project is not the cwd.

    ``memo`` (one dict per listing) remembers the suffix of each project dir.
    """
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
    suffix = memo.get(project) if memo is not None else None
    if suffix is None:
        suffix = "" if os.path.abspath(project) == os.path.abspath(cwd) else " (%s)" % short_path(project, cwd)
        if memo is not None:
            memo[project] = suffix
    return name + suffix


def short_path(path: str, cwd: str) -> str:
    """``path`` relative to ``cwd`` when that is shorter, with ``~`` for home."""
    rel = os.path.relpath(path, cwd)
    homedir = os.path.expanduser("~")
    tilde = "~" + path[len(homedir) :] if path.startswith(homedir + os.sep) else path
    return min((rel, tilde, path), key=len)


def run_rows(runs: Iterable[Run], numbered: bool = True, start: int = 1, with_dir: bool = True) -> list[list[str]]:
    """Table rows ``[N:id]  op  started  status  label`` (``[id]`` when not numbered).

    A marked run's operation gets a `` [marked]`` suffix.
    """
    cwd = os.getcwd()
    memo: dict[str, str] = {}
    rows = []
    for i, run in enumerate(runs, start):
        ref = "[%d:%s]" % (i, run.short_id) if numbered else "[%s]" % run.short_id
        op = op_display(run, cwd, with_dir, memo)
        if run.get("marked"):
            op += " [marked]"
        rows.append([ref, op, format_timestamp(run.timestamp), run.status_with_remote, run.label])
    return rows


def echo_table(rows: list[list[str]], indent: str = "", err: bool = False) -> None:
    out = sys.stderr if err else sys.stdout
    for line in format_table(rows, indent):
        out.write(line + "\n")
    out.flush()


def confirm(prompt: str, default: bool = True, yes: bool = False) -> bool:
    """Ask on stderr unless ``yes``; ``(Y/n)`` or ``(y/N)`` per ``default``.

    End of input (no answer at all) exits 1, as Guild does.
    """
    if yes:
        return True
    choices = "(Y/n)" if default else "(y/N)"
    while True:
        sys.stderr.write("%s %s " % (prompt, choices))
        sys.stderr.flush()
        line = sys.stdin.readline() if sys.stdin else ""
        if not line:  # end of input: Guild gives up with exit 1
            sys.stderr.write("\n")
            sys.stderr.flush()
            raise SystemExit(exitcodes.ERROR)
        answer = line.strip().lower()
        if not answer:
            return default
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False


def preview_and_confirm(
    runs: list[Run], preview: str, prompt: str, yes: bool, default: bool
) -> None:
    """Show ``preview`` and the runs table on stderr, then ask; exit 4 on no.

    ``prompt`` may use ``{count}``. Nothing is shown with ``yes``.
    """
    if yes:
        return
    sys.stderr.write(preview + "\n")
    echo_table(run_rows(runs, numbered=False), indent="  ", err=True)
    if not confirm(prompt.format(count=len(runs)), default=default):
        raise SystemExit(exitcodes.ABORTED)


def nothing_to(msg: str) -> None:
    """Guild's ``Nothing to ...`` note for an empty selection (stderr, exit 0)."""
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def note(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()
