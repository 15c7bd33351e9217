"""``guild compare --csv``: the table as CSV, and the click-free fast path for a plain ``compare --csv``."""

from __future__ import annotations

import sys

from luigi_guild.model.errors import GuildError
from luigi_guild.store import compare as comparelib


def no_gc() -> None:
    """Turn off the cycle collector for this short command: the table makes a few objects per
    run and cell and frees them only at exit, and at 10,000 runs collections re-scanning them
    cost a third of the time."""
    import gc

    gc.disable()


def warn(msg: str) -> None:
    sys.stderr.write("WARNING: %s\n" % msg)


def write_csv(table: comparelib.Table, path: str) -> None:
    """The table as CSV to ``path`` (``-``: standard output)."""
    import csv

    # The csv module's writer already writes cells as Guild's CSV has them: None as
    # "", a float as its repr, anything else as str(); rows go to it unconverted.
    rows = [table.header] + table.rows if table.rows else []
    if path == "-":
        import io

        # Rows go to memory first: standard output may be unbuffered
        # (PYTHONUNBUFFERED), which would cost a write per row.
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        sys.stdout.write(buf.getvalue())
        sys.stdout.flush()
        return
    try:
        with open(path, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
    except OSError as e:
        raise GuildError("cannot write %s: %s" % (path, e.strerror or e)) from None
    sys.stderr.write("Wrote %d row(s) to %s\n" % (len(table.rows), path))


def plain_csv(path: str) -> None:
    """``guild compare --csv PATH`` with no other option: every run but batch runs, default columns.

    What the click command does for these arguments, without loading click
    (``luigi_guild.entry`` sends exactly these arguments here).
    """
    import os

    from luigi_guild.model import home
    from luigi_guild.store import query, scalars

    no_gc()
    # Every run is shown: their scalar index entries are checked (in a child process, when
    # there are many) while the runs are listed and preloaded.
    pending = scalars.started(os.path.abspath(home.runs_dir()))
    opts = comparelib.CompareOptions(include_batch=False)
    table = comparelib.build(query.list_runs(), opts, warn=warn, pending_scalars=pending)
    write_csv(table, path)
    _kept.append(table)  # freed by the process's end (see the entry point's quick exit), not here


_kept: list[object] = []
