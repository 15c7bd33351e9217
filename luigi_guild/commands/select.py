"""``guild select``: print a run's id, directory or an attribute."""

from __future__ import annotations

import sys
from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.store import query as runstore
from luigi_guild.commands.filters import filter_options, pop_filter
from luigi_guild.commands.remote_opt import forward, remote_option
from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import Run


@click.command("select")
@click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
@click.option("-s", "--short-id", is_flag=True, help="Print the short id.")
@click.option("-p", "--path", "--dir", "path", is_flag=True, help="Print the run directory.")
@click.option("-a", "--attr", metavar="NAME", help="Print attribute NAME of the run.")
@click.option("-A", "--all", "all_", is_flag=True, help="Print every matching run, one per line.")
@click.option("-min", "--min", "min_col", metavar="COLSPEC", help="Select the run with the smallest value of COLSPEC.")
@click.option("-max", "--max", "max_col", metavar="COLSPEC", help="Select the run with the largest value of COLSPEC.")
@remote_option
@filter_options
def select(
    runs: tuple[str, ...],
    short_id: bool,
    path: bool,
    attr: str | None,
    all_: bool,
    remote: str | None,
    min_col: str | None = None,
    max_col: str | None = None,
    **kw: Any,
) -> None:
    """Select a run and print its id.

    RUN is a full id, an id prefix, a 1-based index into `guild runs`, or a
    START:END slice. The default is the latest run.

    --min/--max COLSPEC choose among the selected runs by one column: a
    scalar (`loss`, `min loss`, `loss step`, `logs#loss`), a flag (`=lr`) or
    an attribute (`.started`). Runs without a value count as smallest.
    """
    if remote:
        forward(click.get_current_context(), remote, ["select"])
        return
    listed = runstore.filtered_runs(pop_filter(kw, "select"))
    if min_col is not None or max_col is not None:
        if min_col is not None and max_col is not None:
            raise GuildError("--min and --max cannot both be specified")
        click.echo(_format(_best(listed, runs, min_col, max_col), short_id, path, attr))
        return
    if all_ or len(runs) > 1:
        chosen = runstore.select(listed, runs or [":"], "select")
    else:
        chosen = [runstore.select_one(listed, runs[0] if runs else None, "select")]
    for run in chosen:
        click.echo(_format(run, short_id, path, attr))


def _format(run: Run, short_id: bool, path: bool, attr: str | None) -> str:
    if attr:
        special = {
            "id": run.id,
            "short_id": run.short_id,
            "run_dir": run.path,
            "status": run.status,
            "operation": run.op_name,
            "label": run.label,
        }
        if attr in special:
            return special[attr]
        raw = run.read_raw_attr(attr)
        if raw is None:
            raise GuildError("no such run attribute '%s'" % attr)
        return raw.rstrip("\n")
    if path:
        return run.path
    if short_id:
        return run.short_id
    return run.id


def _best(listed: list[Run], specs: tuple[str, ...], min_col: str | None, max_col: str | None) -> Run:
    from luigi_guild.model import colspec
    from luigi_guild.store import compare

    spec = min_col if min_col is not None else max_col
    assert spec is not None
    try:
        cols = colspec.parse(spec)
    except colspec.ColSpecError as e:
        raise GuildError("invalid col spec '%s': %s" % (spec, e)) from None
    if len(cols) == 1 and cols[0].kind == "scalar" and cols[0].named_as is not None:
        sys.stderr.write("WARNING: ignoring 'as %s' in scalar\n" % cols[0].named_as)
    candidates = runstore.select(listed, specs, "select") if specs else listed
    best = compare.best_run(candidates, spec, maximize=max_col is not None)
    if best is None:
        raise GuildError("no matching runs")
    return best
