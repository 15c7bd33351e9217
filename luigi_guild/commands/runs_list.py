"""The run table of ``guild runs`` (no click here: the fast path uses it too)."""

from __future__ import annotations

import sys

from luigi_guild.commands.common import echo_table, run_rows
from luigi_guild.store.index import RunIndex

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Any

DEFAULT_LIMIT = 20


def list_runs_cmd(all_: bool = False, more: int = 0, limit: int | None = None, **_: Any) -> None:
    """Print the run table newest first, with Guild's note when it is cut.

    Only the rows shown are read in full; ordering the rest needs one stat
    per run (see :mod:`luigi_guild.store.index`).
    """
    index = RunIndex.load()
    ids = index.ids()
    total = len(ids)
    if all_:
        shown = ids
    elif limit is not None:
        shown = ids[: max(limit, 0)]
    else:
        shown = ids[: DEFAULT_LIMIT * (1 + more)]
    rows = run_rows(index.snapshot(index.run(i) for i in shown))
    index.save()
    echo_table(rows)
    if not all_ and limit is None and len(shown) < total:
        sys.stderr.write(
            "Showing the first %d runs (%d total) - use --all to show all or -m to show more\n" % (len(shown), total)
        )
