"""``guild compare`` and ``guild api compare``: runs side by side with their flags and scalars."""

from __future__ import annotations

import sys
from typing import Any

import click

from luigi_guild.commands.comparecsv import no_gc, warn, write_csv
from luigi_guild.commands.filters import filter_options, selected_runs
from luigi_guild.model.errors import GuildError
from luigi_guild.store import compare as comparelib


def compare_options(f: Any) -> Any:
    opts = [
        click.option("-c", "--cols", "cols", metavar="COLUMNS", multiple=True, help="Extra columns (comma-separated specs)."),
        click.option(
            "-cc", "--strict-cols", "strict_cols", metavar="COLUMNS", multiple=True,
            help="Show only the run id and these columns.",
        ),
        click.option("-r", "--skip-core", is_flag=True, help="Show only the run id of the core columns."),
        click.option("-p", "--skip-op-cols", is_flag=True, help="Leave out the operation's flag and scalar columns."),
        click.option("-e", "--extra-cols", is_flag=True, help="Add the source code digest column."),
        click.option("-s", "--all-scalars", is_flag=True, help="Include system scalars (sys/*)."),
        click.option("-u", "--skip-unchanged", is_flag=True, help="Leave out columns whose values are all the same."),
        click.option("--min", "min_col", metavar="COLUMN", help="Sort by COLUMN, smallest first."),
        click.option("--max", "max_col", metavar="COLUMN", help="Sort by COLUMN, largest first."),
        click.option("-n", "--limit", "--top", "top", type=int, metavar="N", help="Show the first N runs (after sorting)."),
        click.option("--include-batch", is_flag=True, help="Include batch runs."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def build_table(runs_specs: tuple[str, ...], kw: dict[str, Any], full_ids: bool = False) -> comparelib.Table:
    include_batch = kw.pop("include_batch")
    opts = comparelib.CompareOptions(
        cols=list(kw.pop("cols")),
        strict_cols=list(kw.pop("strict_cols")),
        skip_core=kw.pop("skip_core"),
        skip_op_cols=kw.pop("skip_op_cols"),
        extra_cols=kw.pop("extra_cols"),
        all_scalars=kw.pop("all_scalars"),
        skip_unchanged=kw.pop("skip_unchanged"),
        min_col=kw.pop("min_col"),
        max_col=kw.pop("max_col"),
        top=kw.pop("top"),
        full_ids=full_ids,
        include_batch=include_batch,
    )
    if opts.min_col and opts.max_col:
        raise GuildError("--min and --max cannot both be specified")
    runs = selected_runs(kw, runs_specs, [":"], "compare")
    return comparelib.build(runs, opts, warn=warn)


@click.command("compare")
@click.argument("runs", metavar="[RUN...]", nargs=-1)
@click.option("-t", "--table", "table_", is_flag=True, help="Print a plain table.")
@click.option("--csv", "csv_path", metavar="PATH", help="Write CSV to PATH ('-' for standard output).")
@click.option("--print-scalars", is_flag=True, help="List every scalar of the runs and exit.")
@click.option("--tool", metavar="TOOL", type=click.Choice(["hiplot"]), help="Compare the runs with TOOL; supported: hiplot (Facebook's HiPlot parallel plot).")
@compare_options
@filter_options
def compare(
    runs: tuple[str, ...], table_: bool, csv_path: str | None, print_scalars: bool, tool: str | None = None,
    **kw: Any,
) -> None:
    """Compare runs: their flags and scalars side by side.

    Without --table or --csv, on a terminal, shows an interactive table
    (sort with s/S, quit with q); otherwise prints the table.
    """
    for first, second in (("table", "csv"), ("table", "tool"), ("csv", "tool")):
        given = {"table": table_, "csv": csv_path, "tool": tool}
        if given[first] and given[second]:
            raise GuildError(
                "--%s and --%s cannot both be specified" % (first, second),
                hint="Try 'guild compare --help' for more information.",
            )
    if print_scalars:
        _print_scalars(runs, kw)
        return
    no_gc()
    table = build_table(runs, kw)
    if csv_path:
        write_csv(table, csv_path)
        return
    if tool:
        _compare_with_tool(tool, table)
        return
    if not table_ and sys.stdout.isatty() and sys.stdin.isatty():
        _interactive(table)
        return
    _print_table(table)


def _compare_with_tool(tool: str, table: comparelib.Table) -> None:
    """``--tool hiplot``: the table as a HiPlot page (``HIPLOT_HTML`` names where to save it, else a browser opens it)."""
    try:
        from hiplot import fetchers  # type: ignore[import-not-found]
    except ImportError:
        raise GuildError("HiPlot is not available", hint="Install it by running 'pip install hiplot'") from None
    import os
    import tempfile

    from luigi_guild.commands.comparecsv import csv_text

    header = ["uid" if i == 0 else h for i, h in enumerate(table.header)]  # HiPlot's run id column
    with tempfile.TemporaryDirectory(prefix="guild-compare-") as tmp:
        csv_path = os.path.join(tmp, "data.csv")
        with open(csv_path, "w", newline="") as f:
            f.write(csv_text([header] + table.rows))
        exp = fetchers.load_xp_with_fetchers(fetchers.get_fetchers([]), csv_path)
        exp.validate()
        html_path = os.environ.get("HIPLOT_HTML") or os.path.join(tmp, "compare.html")
        with open(html_path, "w", encoding="utf-8") as f:
            exp.to_html(f)
        if os.environ.get("HIPLOT_HTML"):
            sys.stderr.write("Saved HiPlot HTML to %s\n" % html_path)
            return
        import time
        import webbrowser

        sys.stderr.write("Opening %s\nTo return to the prompt, press Ctrl-C\n" % html_path)
        webbrowser.open(html_path)
        try:
            while True:
                time.sleep(1000)
        except KeyboardInterrupt:
            pass


# ------------------------------------------------------------ formatting


def format_float(v: float) -> str:
    """Guild's table float: the shortest repr with decimals cut (not rounded) to six places."""
    s = repr(v)
    if "e" in s or "." not in s:
        return s
    whole, dec = s.split(".", 1)
    return whole + "." + dec[:6]


def format_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return format_float(v)
    return str(v)


def table_lines(table: comparelib.Table) -> list[list[str]]:
    rows = [list(table.header)]
    op_i = table.header.index("operation") if "operation" in table.header else None
    for run, row in zip(table.runs, table.rows):
        cells = [format_cell(v) for v in row]
        if op_i is not None and run.get("marked"):
            cells[op_i] += " [marked]"
        rows.append(cells)
    return rows


def _print_table(table: comparelib.Table) -> None:
    lines = table_lines(table)
    widths = [max(len(r[i]) for r in lines) for i in range(len(table.header))]
    out = sys.stdout
    for row in lines:
        # Every column but the last is padded (no trailing strip, as Guild prints it).
        out.write("  ".join(c.ljust(widths[i]) if i < len(row) - 1 else c for i, c in enumerate(row)) + "\n")
    out.flush()


def _interactive(table: comparelib.Table) -> None:
    """A full-screen table (tabview: scroll with arrows, sort with s/S, q to quit)."""
    import tabview

    data = table_lines(table) if table.rows else [["no runs"]]
    tabview.view(data, info="Guild run comparison", column_width="max")


def _print_scalars(runs_specs: tuple[str, ...], kw: dict[str, Any]) -> None:
    from luigi_guild.store import scalars as scalarstore

    include_batch = kw.get("include_batch")
    for name in ("cols", "strict_cols", "skip_core", "skip_op_cols", "extra_cols", "all_scalars",
                 "skip_unchanged", "min_col", "max_col", "top", "include_batch"):
        kw.pop(name, None)
    runs = selected_runs(kw, runs_specs, [":"], "compare")
    if not include_batch:
        runs = [r for r in runs if not comparelib.is_batch(r)]
    summaries = scalarstore.for_runs(runs)
    out = sys.stdout
    for run in runs:
        out.write("[%s] %s\n" % (run.short_id, run.op_name))
        for s in summaries[run.path]:
            out.write("  %s: %f (step %d)\n" % (s.key, s.last_val, s.last_step))
    out.flush()


# ------------------------------------------------------------ guild api compare (the group: commands/api.py)


@click.command("compare")
@click.argument("runs", metavar="[RUN...]", nargs=-1)
@click.option("-f", "--format", "pretty", is_flag=True, help="Format the JSON output.")
@compare_options
@filter_options
def api_compare(runs: tuple[str, ...], pretty: bool = False, **kw: Any) -> None:
    """The compare table as one JSON array of rows (header first, full run ids)."""
    import json

    no_gc()
    table = build_table(runs, kw, full_ids=True)
    rows = table.rows
    if "label" in table.header:  # a run without a label attr: null, as in Guild (not "")
        at = table.header.index("label")
        rows = [
            row[:at] + [None if row[at] == "" and run.get("label") is None else row[at]] + row[at + 1:]
            for row, run in zip(table.rows, table.runs)
        ]
    data = [table.header] + rows if rows else []
    opts: dict[str, Any] = {"indent": 2, "sort_keys": True} if pretty else {}
    sys.stdout.write(json.dumps(data, default=str, **opts) + "\n")
