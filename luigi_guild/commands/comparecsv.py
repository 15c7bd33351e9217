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


def csv_text(rows: list[list]) -> str:
    """``rows`` as the csv module's writer writes them (``\\n`` line ends): None as "", a float
    as its repr, anything else as ``str()``, a cell quoted when it holds ``,``, ``"`` or a line
    break (a lone empty cell too).

    A row of plain cells is joined with commas directly; any row the join cannot prove
    plain (a quote, a line break, a comma inside a cell, a single cell) goes through
    the csv writer itself: the writer checks every character in Python 3.11, three
    times slower at 10,000 rows.
    """
    out = []
    slow = None
    buf = None
    for row in rows:
        line = ",".join(["" if v is None else v if type(v) is str else str(v) for v in row])
        if len(row) < 2 or line.count(",") != len(row) - 1 or '"' in line or "\n" in line or "\r" in line:
            if slow is None:
                import csv
                import io

                buf = io.StringIO()
                slow = csv.writer(buf, lineterminator="\n")
            assert buf is not None
            buf.seek(0)
            buf.truncate()
            slow.writerow(row)
            line = buf.getvalue()[:-1]
        out.append(line)
    return "\n".join(out) + "\n" if out else ""


def table_csv(table: comparelib.Table) -> str:
    """The table as CSV text: the header and a line per row (nothing when there is no row)."""
    return csv_text([table.header] + table.rows if table.rows else [])


def write_csv(table: comparelib.Table, path: str, text: str | None = None) -> None:
    """The table as CSV (``text``: :func:`table_csv` of it, when made already) to ``path`` (``-``: standard output)."""
    write_text(table_csv(table) if text is None else text, len(table.rows), path)


def write_text(text: str, rows: int, path: str) -> None:
    """CSV ``text`` of ``rows`` rows to ``path`` (``-``: standard output)."""
    if path == "-":
        # One write: standard output may be unbuffered (PYTHONUNBUFFERED).
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        with open(path, "w", newline="") as f:
            f.write(text)
    except OSError as e:
        raise GuildError("cannot write %s: %s" % (path, e.strerror or e)) from None
    sys.stderr.write("Wrote %d row(s) to %s\n" % (rows, path))


def plain_csv(path: str) -> None:
    """``guild compare --csv PATH`` with no other option: every run but batch runs, default columns.

    What the click command does for these arguments, without loading click
    (``luigi_guild.entry`` sends exactly these arguments here).
    """
    import os

    from luigi_guild.model import home
    from luigi_guild.store import query

    no_gc()
    root = os.path.abspath(home.runs_dir())
    opts = comparelib.CompareOptions(include_batch=False)
    if query.parent_scope(root) is not None:  # the runs a steps run isolates its steps to
        from luigi_guild.store import scalars

        pending = scalars.started(root)
        table = comparelib.build(query.list_runs(), opts, warn=warn, pending_scalars=pending)
        write_csv(table, path)
        _kept.append(table)
        return
    from luigi_guild.store import comparecache
    from luigi_guild.store.warm import Warm

    # Every run is shown. The indexes are read, then a child process checks their entries
    # (when there are many) while this one makes the table as they say; it is made again
    # only if some entry was stale. When the entries are those the last table was made from,
    # that table's text is used once they are all found fresh.
    warm = Warm(root)
    key = comparecache.key(warm.inputs())
    kept = comparecache.read(key)
    if kept is not None:
        warm.start(share=True)  # nothing else to do meanwhile: half the checks here
        if warm.all_fresh():
            warm.close()
            write_text(kept[0], kept[1], path)
            return
    else:
        warm.start()
    guess = warm.guess() if kept is None else None
    guessed = None
    warnings: list[str] = []  # the guess's, shown only if it stands
    if guess is not None:
        guessed = comparelib.build(guess[0], opts, warn=warnings.append, pending_scalars=guess[1], preloaded=True)
        text = table_csv(guessed)
    checked = warm.checked()
    if checked is None and guessed is not None:
        for msg in warnings:
            warn(msg)
        table = guessed
        if not warnings and comparecache.keepable(table.runs):
            comparecache.write(key, text, len(table.rows))
    else:
        assert checked is not None
        table = comparelib.build(checked[0], opts, warn=warn, pending_scalars=checked[1], preloaded=True)
        text = table_csv(table)
    write_csv(table, path, text)
    _kept.append(table)  # freed by the process's end (see the entry point's quick exit), not here


_kept: list[object] = []
