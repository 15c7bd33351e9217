"""Every run of a runs directory with its scalars, for a table of them all (``guild compare --csv``).

Both indexes are read first, then a child process (:mod:`luigi_guild.store.forkcheck`)
checks every entry's stamps -- the run index's ``.guild/``, ``label`` and
``exit_status`` (:func:`luigi_guild.store.index.check_shown`), then the scalar
index's directories and event files -- while this process makes what the
entries say into a table (:meth:`Warm.guess`). :meth:`Warm.checked` then
waits for the flags: when every entry used was fresh the guess stands;
otherwise the runs whose stamps no longer match are read again and the
caller makes its table again from them. Either way the result is the one
checking first would give: a run changed, added or removed behind the
indexes' backs is seen.
"""

from __future__ import annotations

import marshal

from luigi_guild.store import scalarindex, scalars
from luigi_guild.store.index import RunIndex, check_shown
from luigi_guild.store.rundir import Run

TYPE_CHECKING = False  # typing costs milliseconds to import: annotations only
if TYPE_CHECKING:
    from typing import Callable

    ScalarsOf = Callable[[list[Run]], dict[str, list[scalars.Scalar]]]


class Warm:
    """The runs under the runs directory ``root`` (absolute) and their scalars, being checked."""

    def __init__(self, root: str):
        self.root = root
        self.index = index = RunIndex.load(root)
        self.names, self.stamps, self.others = index.warm()
        self.pending = pending = scalarindex.Pending(root)
        self.child = None
        self._unchecked: list[Run | None] = []
        self._guessed = False
        n = len(self.stamps) + len(pending.fetched or ())
        if n >= scalarindex.FORK_MIN:
            from luigi_guild.store import forkcheck

            stamps = self.stamps

            def work() -> bytes:
                flags, guild_stamps = check_shown(root, stamps)
                return flags + pending.check(guild_stamps)

            self.child = forkcheck.start(work)

    def guess(self) -> tuple[list[Run], ScalarsOf] | None:
        """Every run, newest first, and a function giving their scalars, as the index entries say
        (no stamp checked yet); None when some run has to be read anyway (no settled entry, damage
        to report, no scalar entry)."""
        if self.others:
            return None
        runs = self.index.unchecked(self.names)
        self._unchecked = runs
        if any(r is None for r in runs):
            return None
        rows: dict[str, list[tuple]] = {}
        loads = marshal.loads
        try:
            for d, _stamp, blob in self.pending.fetched or ():
                rows[d] = loads(blob)
        except (ValueError, EOFError, TypeError):
            return None
        shown: list[Run] = runs  # type: ignore[assignment]  # no None in it (checked above)
        if any(r.path not in rows for r in shown):
            return None
        self._guessed = True
        return shown, lambda some: scalars.from_rows([r.path for r in some], rows)

    def checked(self) -> tuple[list[Run], ScalarsOf] | None:
        """None when :meth:`guess` gave exactly what checking gives (its table stands); else every
        run, newest first, preloaded and checked, and the function giving their (checked) scalars."""
        n = len(self.stamps)
        pending = self.pending
        data = self.child.result(n + len(pending.fetched or ())) if self.child is not None else None
        scalar_fresh: bytes | None
        if data is None:
            fresh, guild_stamps = check_shown(self.root, self.stamps)
            scalar_fresh = None
        else:
            fresh, scalar_fresh, guild_stamps = data[:n], data[n:], {}
        unchecked = self._unchecked if len(self._unchecked) == n else self.index.unchecked(self.names)
        runs = self.index.confirm(self.names, unchecked, fresh, self.others)
        self.index.save()
        if scalar_fresh is None:  # checked here: runs read again have their ``.guild/`` stamp too
            for r in runs:
                if r.guild_stamp is not None:
                    guild_stamps.setdefault(r.path, r.guild_stamp)
            scalar_fresh = pending.check(guild_stamps)
        if self._guessed and pending.fetched is not None and fresh.count(0) == 0 and len(runs) == n:
            dirs = {r.path for r in runs}
            if all(ok for (d, _stamp, _rows), ok in zip(pending.fetched, scalar_fresh) if d in dirs):
                pending.close()
                return None

        def scalars_of(shown: list[Run]) -> dict[str, list[scalars.Scalar]]:
            dirs = [r.path for r in shown]
            return scalars.from_rows(dirs, pending.finish(dirs, scalar_fresh, guild_stamps))

        return runs, scalars_of
