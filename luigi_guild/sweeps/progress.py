"""The progress line sweeps and queues print on a terminal: a bar, what is done of how many, failures, the best objective.

It is drawn with rich, imported only when a line is drawn (that is, only on
a terminal); piped output keeps the plain log lines.
"""

from __future__ import annotations

import sys

from luigi_guild.model import flags as flagslib


def progress_line(done: int, total: int, failed: int, label: str = "", best: float | None = None,
                  noun: str = "trials") -> None:
    """Print, on stderr, a bar with ``done``/``total`` ``noun``, the failures and (if any) the best ``label`` value."""
    from rich.console import Console
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    line = Table.grid(padding=(0, 1))
    text = "%d/%d %s, %d failed" % (done, total, noun, failed)
    if best is not None:
        text += ", best %s %s" % (label, flagslib.format_val(best))
    line.add_row(ProgressBar(total=max(total, 1), completed=done, width=30), text)
    Console(file=sys.stderr).print(line)
