"""Every run of a runs directory with its scalars, for a table of them all (``guild compare --csv``).

Both indexes are read first (:class:`Warm`), then :meth:`Warm.start` has a child
process (:mod:`luigi_guild.store.forkcheck`) check every entry's stamps -- the run
index's ``.guild/``, ``label`` and ``exit_status`` (:func:`luigi_guild.store.index.check_shown`),
then the scalar index's directories and event files -- while this process makes
what the entries say into a table (:meth:`Warm.guess`), or checks half of the
entries itself when it has nothing else to do. :meth:`Warm.checked` then waits
for the flags: when every entry used was fresh the guess stands; otherwise
the runs whose stamps no longer match are read again and the caller makes its
table again from them. Either way the result is the one checking first would
give: a run changed, added or removed behind the indexes' backs is seen.
"""

from __future__ import annotations

import marshal

from luigi_guild.store import scalarindex, scalars
from luigi_guild.store.index import RunIndex, check_shown
from luigi_guild.store.rundir import Run

TYPE_CHECKING = False  # typing costs milliseconds to import: annotations only
if TYPE_CHECKING:
    from typing import Callable

    from luigi_guild.store.forkcheck import Child

    ScalarsOf = Callable[[list[Run]], dict[str, list[scalars.Scalar]]]


class Warm:
    """The runs under the runs directory ``root`` (absolute) and their scalars, to be checked."""

    def __init__(self, root: str):
        self.root = root
        self.index = index = RunIndex.load(root)
        self.names, self.stamps, self.others = index.warm()
        self.pending = scalarindex.Pending(root)
        self.fetched = self.pending.fetched or []
        self.child: Child | None = None
        self._split: tuple[int, list[int]] = (0, [])
        self._flags: tuple[bytes, bytes | None, dict[str, int]] | None = None
        self._unchecked: list[Run | None] = []
        self._guessed = False

    def inputs(self) -> bytes:
        """Everything the table is made from, as the indexes hold it (unchecked): the run index
        file's identity, the runs listed in order, the scalar index entries fetched (their run
        directories and stamps, and a checksum of their summaries: an entry's summaries change
        only with its stamp, or with the code, which the cache key covers too)."""
        import zlib

        fetched = self.fetched
        rows_crc = zlib.crc32(b"".join([rows for _d, _stamp, rows in fetched]))
        entries = [(d, stamp) for d, stamp, _rows in fetched]
        # Version 2: no references between objects, so equal inputs give equal bytes.
        return marshal.dumps((self.index.file_id, self.root, self.names, self.others, entries, rows_crc), 2)

    def start(self, share: bool = False) -> None:
        """Start checking every entry: in a child process when there are many (half of them
        when ``share``: :meth:`all_fresh` or :meth:`checked` checks the rest here)."""
        stamps, fetched, root = self.stamps, self.fetched, self.root
        n = len(stamps)
        if n + len(fetched) < scalarindex.FORK_MIN:
            return
        from luigi_guild.store import forkcheck

        h = n // 2 if share else n
        if h < n:
            cut = len(root) + 1
            mine = set(self.names[:h])
            idx = [i for i, (d, _stamp, _rows) in enumerate(fetched) if d[cut:] in mine]
        else:
            idx = list(range(len(fetched)))
        self._split = (h, idx)

        def work() -> bytes:
            flags, guild_stamps = check_shown(root, stamps[:h])
            return flags + scalarindex.check_stamps([fetched[i] for i in idx], guild_stamps)

        self.child = forkcheck.start(work)

    def _checked_flags(self) -> tuple[bytes, bytes | None, dict[str, int]]:
        """(run index flags as ``stamps``, scalar flags as ``fetched`` or None: not checked yet,
        ``.guild/`` stamps found fresh); from the child (and this process), else checked here."""
        if self._flags is not None:
            return self._flags
        stamps, fetched, child = self.stamps, self.fetched, self.child
        if child is not None:
            h, idx = self._split
            in_child = set(idx)
            rest = [i for i in range(len(fetched)) if i not in in_child] if len(idx) < len(fetched) else []
            own_fresh, own_stamps = check_shown(self.root, stamps[h:]) if h < len(stamps) else (b"", {})
            own_scalars = scalarindex.check_stamps([fetched[i] for i in rest], own_stamps) if rest else b""
            data = child.result(h + len(idx))
            self.child = None
            if data is not None:
                scalar_fresh = bytearray(len(fetched))
                for j, i in enumerate(idx):
                    scalar_fresh[i] = data[h + j]
                for j, i in enumerate(rest):
                    scalar_fresh[i] = own_scalars[j]
                self._flags = (data[:h] + own_fresh, bytes(scalar_fresh), {})
                return self._flags
        fresh, guild_stamps = check_shown(self.root, stamps)
        self._flags = (fresh, None, guild_stamps)
        return self._flags

    def all_fresh(self) -> bool:
        """Whether every run has settled entries in both indexes and all of them are still fresh
        (waits for the checks): then what the entries say is what reading the runs would give."""
        if self.others or self.pending.fetched is None:
            return False
        fresh, scalar_fresh, guild_stamps = self._checked_flags()
        if fresh.count(0):
            return False
        if scalar_fresh is None:
            scalar_fresh = self.pending.check(guild_stamps)
            self._flags = (fresh, scalar_fresh, guild_stamps)
        cut = len(self.root) + 1
        ok = {d[cut:] for (d, _stamp, _rows), f in zip(self.fetched, scalar_fresh) if f}
        return all(name in ok for name in self.names)

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
            for d, _stamp, blob in self.fetched:
                rows[d] = loads(blob)
        except (ValueError, EOFError, TypeError):
            return None
        shown: list[Run] = runs  # type: ignore[assignment]  # no None in it (checked above)
        if any(r.path not in rows for r in shown):
            return None
        self._guessed = True
        return shown, lambda some: scalars.from_rows([r.path for r in some], rows)

    def close(self) -> None:
        """Done without :meth:`checked` (:meth:`all_fresh` was true)."""
        self.pending.close()

    def checked(self) -> tuple[list[Run], ScalarsOf] | None:
        """None when :meth:`guess` gave exactly what checking gives (its table stands); else every
        run, newest first, preloaded and checked, and the function giving their (checked) scalars."""
        n = len(self.stamps)
        pending = self.pending
        fresh, scalar_fresh, guild_stamps = self._checked_flags()
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
            if all(ok for (d, _stamp, _rows), ok in zip(self.fetched, scalar_fresh) if d in dirs):
                pending.close()
                return None

        def scalars_of(shown: list[Run]) -> dict[str, list[scalars.Scalar]]:
            dirs = [r.path for r in shown]
            return scalars.from_rows(dirs, pending.finish(dirs, scalar_fresh, guild_stamps))

        return runs, scalars_of
