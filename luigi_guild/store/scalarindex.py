"""The scalar index: per-run, per-tag scalar summaries in SQLite under the Guild home's cache.

``$GUILD_HOME/cache/scalars-index.db`` is derived and never required:
delete it (or let it be corrupted) and it is rebuilt on the next call.
For each run directory it keeps a *stamp*: the (mtime, ctime, inode, size)
of every directory of the run that was walked and the (size, mtime) of every
event file found. A run whose stamp still matches is served from the index without
walking it again or opening an event file; otherwise the run is walked and
only the directories whose event files changed are read again. A stamp
taken less than :data:`RACY_NS` after its newest change is not trusted (a
write in the same clock tick would not show), so such runs are checked
again next time.
"""

from __future__ import annotations

import marshal
import os
import sqlite3
import time
TYPE_CHECKING = False  # typing costs milliseconds to import: annotations only
if TYPE_CHECKING:
    from typing import Callable, Iterable

from luigi_guild.model import home
from luigi_guild.store import eventfiles

RACY_NS = 2_000_000_000
_SCHEMA_VERSION = 2

# Summary row fields after (prefix, tag), in table order.
FIELDS = (
    "first_val", "first_step", "last_val", "last_step", "min_val", "min_step",
    "max_val", "max_step", "avg_val", "total", "count",
)


def index_path() -> str:
    return home.cache_dir("scalars-index.db")


def summarize(events: Iterable[tuple[str, float, int]]) -> dict[str, tuple]:
    """Per tag: ``FIELDS`` from events in file order (Guild's tie rules)."""
    acc: dict[str, list] = {}
    for tag, val, step in events:
        a = acc.get(tag)
        if a is None:
            acc[tag] = [val, step, val, step, val, step, val, step, val, 1]
            continue
        if step < a[1]:
            a[0], a[1] = val, step
        if step >= a[3]:
            a[2], a[3] = val, step
        if val < a[4]:
            a[4], a[5] = val, step
        if val > a[6]:
            a[6], a[7] = val, step
        a[8] += val
        a[9] += 1
    return {
        tag: (a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8] / a[9], a[8], a[9])
        for tag, a in acc.items()
    }


def dir_stamp(st: os.stat_result) -> int:
    """A directory's stamp: changes when an entry is added, removed or renamed (the run index's formula)."""
    return hash((st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size))


def _walk_stamp(run_dir: str) -> tuple[list[tuple[str, str, list]], tuple, int]:
    """The run's sources ``(prefix, dir, file stats)``, its stamp and the newest time the stamp saw.

    The stamp is ``(dirs, files)``: ``(rel, dir_stamp)`` of every directory
    walked and ``(rel, size, mtime_ns)`` of every event file, paths relative
    to the run directory (``""`` for the run directory itself).
    """
    walked: list = []
    sources = []
    files: list = []
    newest = 0
    cut = len(run_dir) + 1
    for prefix, d, names in eventfiles.source_files(run_dir, walked):
        stats = eventfiles.file_stats(d, names)
        sources.append((prefix, d, stats))
        for path, size, mtime in stats:
            files.append((path[cut:], size, mtime))
            newest = max(newest, mtime)
    dirs = []
    for d, st in walked:
        dirs.append((d[cut:], dir_stamp(st)))
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    return sources, (tuple(dirs), tuple(files)), newest


def _stamp_ok(run_dir: str, stamp: tuple, guild_stamp: int | None) -> bool:
    """Whether nothing the stamp covers has changed; ``guild_stamp`` is ``.guild/``'s, checked by the caller."""
    dirs, files = stamp
    prefix = run_dir + "/"
    stat = os.stat
    try:
        for rel, want in dirs:
            if rel == ".guild" and want == guild_stamp:
                continue
            st = stat(prefix + rel if rel else run_dir)
            if hash((st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size)) != want:
                return False
        for rel, size, mtime in files:
            st = stat(prefix + rel)
            if st.st_size != size or st.st_mtime_ns != mtime:
                return False
    except (OSError, ValueError, TypeError):
        return False
    return True


def check_stamps(fetched: list[tuple[str, bytes, bytes]], guild_stamps: dict[str, int]) -> bytes:
    """For each fetched entry, 1 when its stamp still matches the run's files, else 0."""
    loads = marshal.loads
    flags = bytearray(len(fetched))
    for i, (d, stamp, _rows) in enumerate(fetched):
        try:
            flags[i] = _stamp_ok(d, loads(stamp), guild_stamps.get(d))
        except (ValueError, EOFError, TypeError):
            pass
    return bytes(flags)


class ScalarIndex:
    """An open scalar index; :meth:`summaries` refreshes the runs it is asked about.

    One row per run directory holds its stamp and, in one marshalled value,
    its summary rows ``(prefix, tag, *FIELDS)`` sorted by (prefix, tag): a
    table of 10,000 runs reads in one query about twice as fast as one row
    per tag. ``source`` keeps a stamp per source directory, so a changed run
    reads again only the directories whose event files changed.
    """

    def __init__(self, path: str | None = None):
        self.path = path or index_path()
        self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        for attempt in range(2):
            try:
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version != _SCHEMA_VERSION:
                    db.execute("PRAGMA journal_mode=WAL")
                    self._create(db)
                # Reads map the file instead of copying pages; commits need no fsync per run.
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA mmap_size=268435456")
                return db
            except sqlite3.DatabaseError:
                if attempt:
                    raise
                for suffix in ("", "-wal", "-shm"):
                    try:
                        os.remove(self.path + suffix)
                    except OSError:
                        pass
        raise AssertionError("unreachable")

    @staticmethod
    def _create(db: sqlite3.Connection) -> None:
        db.executescript(
            """
            BEGIN IMMEDIATE;
            DROP TABLE IF EXISTS run;
            DROP TABLE IF EXISTS source;
            DROP TABLE IF EXISTS scalar;
            CREATE TABLE run (dir TEXT PRIMARY KEY, settled INTEGER, stamp BLOB, rows BLOB) WITHOUT ROWID;
            CREATE TABLE source (dir TEXT, prefix TEXT, stamp TEXT, rows BLOB, PRIMARY KEY (dir, prefix))
              WITHOUT ROWID;
            PRAGMA user_version = %d;
            COMMIT;
            """
            % _SCHEMA_VERSION
        )

    def close(self) -> None:
        self.db.close()

    def summaries(self, run_dirs: list[str], guild_stamps: dict[str, int] | None = None) -> dict[str, list[tuple]]:
        """Per run dir: ``(prefix, tag, *FIELDS)`` rows sorted by (prefix, tag).

        ``guild_stamps`` holds, for runs whose ``.guild/`` the caller has just
        checked (the run index does for every run it lists), that directory's
        :func:`dir_stamp`: it is not checked again here.
        """
        rows = self.fetch(run_dirs)
        return self.finish(run_dirs, rows, check_stamps(rows, guild_stamps or {}))

    def fetch(self, run_dirs: list[str] | str) -> list[tuple[str, bytes, bytes]]:
        """``(dir, stamp, rows)`` of the settled index entries of ``run_dirs`` (or of every run
        directly in the runs directory ``run_dirs``), still marshalled."""
        entries = self.db.execute("SELECT dir, settled, stamp, rows FROM run")
        if isinstance(run_dirs, str):
            prefix = run_dirs.rstrip("/") + "/"
            cut = len(prefix)
            return [
                (d, stamp, rows)
                for d, settled, stamp, rows in entries
                if settled and d.startswith(prefix) and "/" not in d[cut:]
            ]
        wanted = set(run_dirs)
        return [(d, stamp, rows) for d, settled, stamp, rows in entries if settled and d in wanted]

    def finish(self, run_dirs: list[str], fetched: list[tuple[str, bytes, bytes]], fresh: bytes) -> dict[str, list[tuple]]:
        """:meth:`summaries` of ``run_dirs`` from ``fetched`` entries, those whose flag in ``fresh``
        is 1 as they are, the others read again."""
        out: dict[str, list[tuple]] = dict.fromkeys(run_dirs, [])  # placeholders, replaced below
        done: set[str] = set()
        loads = marshal.loads
        for (d, _stamp, rows), ok in zip(fetched, fresh):
            if ok and d in out:
                try:
                    out[d] = loads(rows)
                    done.add(d)
                except (ValueError, EOFError, TypeError):
                    pass
        stale = [d for d in out if d not in done]
        if stale:
            out.update(self._refresh(stale))
        return out

    def _refresh(self, dirs: list[str]) -> dict[str, list[tuple]]:
        now = time.time_ns()
        db = self.db
        old_all: dict[str, dict[str, tuple[str, list]]] = {}
        if len(dirs) > 64:
            found = db.execute("SELECT dir, prefix, stamp, rows FROM source").fetchall()
        else:
            found = []
            for d in dirs:
                found += db.execute("SELECT dir, prefix, stamp, rows FROM source WHERE dir=?", (d,)).fetchall()
        for d, prefix, sstamp, blob in found:
            try:
                old_all.setdefault(d, {})[prefix] = (sstamp, marshal.loads(blob))
            except (ValueError, EOFError, TypeError):
                pass  # read again
        jobs = [(d, {p: v[0] for p, v in old_all.get(d, {}).items()}) for d in dirs]
        scanned = _scan_all(jobs)
        out: dict[str, list[tuple]] = {}
        run_rows = []
        source_rows = []
        gone: list[tuple[str, str]] = []
        for (d, old), (prefixes, changed, stamp, newest) in zip(jobs, scanned):
            rows: list[tuple] = []
            for prefix in prefixes:
                if prefix in changed:
                    sstamp, summary = changed[prefix]
                    src_rows = [(prefix, tag, *vals) for tag, vals in summary]
                    source_rows.append((d, prefix, sstamp, marshal.dumps(src_rows)))
                else:
                    src_rows = old_all[d][prefix][1]
                rows.extend(src_rows)
            gone.extend((d, prefix) for prefix in set(old) - set(prefixes))
            out[d] = rows
            run_rows.append((d, 1 if now - newest > RACY_NS else 0, marshal.dumps(stamp), marshal.dumps(rows)))
        # One transaction for every run read (a cold index of 10,000 runs is one commit).
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM source WHERE dir=? AND prefix=?", gone)
            db.executemany("INSERT OR REPLACE INTO source VALUES (?, ?, ?, ?)", source_rows)
            db.executemany("INSERT OR REPLACE INTO run VALUES (?, ?, ?, ?)", run_rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return out


_Scanned = tuple  # (prefixes, {prefix: (source stamp, sorted summaries)} of changed sources, stamp, newest ns)


def _scan(job: tuple[str, dict[str, str]]) -> _Scanned:
    """Walk one run: its source prefixes, the summaries of sources whose files changed, its stamp."""
    run_dir, old = job
    sources, stamp, newest = _walk_stamp(run_dir)
    changed: dict[str, tuple[str, list]] = {}
    for prefix, src, stats in sources:
        sstamp = eventfiles.files_stamp(stats)
        if old.get(prefix) == sstamp:
            continue
        events = eventfiles.read_dir(src, [path for path, _size, _mtime in stats])
        changed[prefix] = (sstamp, sorted(summarize(events).items()))
    return [prefix for prefix, _src, _stats in sources], changed, stamp, newest


PARALLEL_MIN = 500


def _scan_all(jobs: list[tuple[str, dict[str, str]]]) -> list[_Scanned]:
    """:func:`_scan` for every job; many runs (a cold index) are read by one process per core."""
    import threading

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if len(jobs) < PARALLEL_MIN or cpus < 2 or threading.active_count() > 1:
        return [_scan(job) for job in jobs]
    import multiprocessing

    eventfiles.preload_reader()  # imported once here, not once per reader process
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(cpus, 8)) as pool:
            return pool.map(_scan, jobs, chunksize=64)
    except OSError:
        return [_scan(job) for job in jobs]


def summaries(run_dirs: list[str], guild_stamps: dict[str, int] | None = None) -> dict[str, list[tuple]]:
    """Scalar summary rows of ``run_dirs`` through the index; a broken index is rebuilt.

    ``guild_stamps``: see :meth:`ScalarIndex.summaries`. When the cache cannot
    be written at all (read-only home), the event files are read directly.
    """
    return start(run_dirs, fork=False)(run_dirs, guild_stamps)


# From this many index entries on, :func:`start` checks their stamps in a child process.
FORK_MIN = 2000


def start(run_dirs: list[str] | str, fork: bool = True) -> Callable[[list[str], dict[str, int] | None], dict[str, list[tuple]]]:
    """Start getting the summaries of ``run_dirs`` (or of the runs in the runs directory
    ``run_dirs``); the function returned gives them (see :func:`summaries`) for the run
    directories it is asked about (a run not known at the start is read then).

    Checking a warm index is a few ``stat`` calls per run: with many runs and
    ``fork`` (and a second core, and no other thread), a child process checks
    every entry's stamps (``.guild/`` too) while the caller goes on (``compare``
    preloads its runs meanwhile); see :mod:`luigi_guild.store.forkcheck`. The
    caller decodes the entries it read itself before the fork, so the flags
    always belong to the very entries used. If the child fails, the caller
    checks them itself.
    """
    pending = Pending(run_dirs)
    child = None
    if fork and pending.fetched and len(pending.fetched) >= FORK_MIN:
        from luigi_guild.store import forkcheck

        child = forkcheck.start(lambda: pending.check({}))

    def result(dirs: list[str], guild_stamps: dict[str, int] | None) -> dict[str, list[tuple]]:
        fresh = child.result(len(pending.fetched or ())) if child is not None else None
        return pending.finish(dirs, fresh, guild_stamps)

    return result


class Pending:
    """The settled index entries of some runs, read now; :meth:`check` checks their stamps
    (in a child process, or not), :meth:`finish` gives the summaries."""

    def __init__(self, run_dirs: list[str] | str):
        self.fetched: list[tuple[str, bytes, bytes]] | None = None
        self.idx: ScalarIndex | None = None
        try:
            self.idx = ScalarIndex()
        except (sqlite3.Error, OSError):
            return
        try:
            self.fetched = self.idx.fetch(run_dirs)
        except sqlite3.DatabaseError:
            self.fetched = None

    def check(self, guild_stamps: dict[str, int]) -> bytes:
        """One flag per fetched entry: 1 when its stamps still match (``guild_stamps``: see
        :meth:`ScalarIndex.summaries`)."""
        return check_stamps(self.fetched or [], guild_stamps)

    def close(self) -> None:
        if self.idx is not None:
            self.idx.close()

    def finish(self, dirs: list[str], fresh: bytes | None, guild_stamps: dict[str, int] | None) -> dict[str, list[tuple]]:
        """The summaries of ``dirs``: entries whose flag in ``fresh`` is 1 as fetched, the others read
        again (``fresh`` None: checked now); the index is closed."""
        idx = self.idx
        if idx is None:
            return {d: _direct(d) for d in dirs}
        try:
            if self.fetched is None:
                raise sqlite3.DatabaseError("index unreadable")
            if fresh is None:
                fresh = self.check(guild_stamps or {})
            return idx.finish(dirs, self.fetched, fresh)
        except sqlite3.DatabaseError:
            idx.close()
            _remove_index()
            return _rebuilt(dirs)
        finally:
            idx.close()


def _rebuilt(dirs: list[str]) -> dict[str, list[tuple]]:
    """Summaries through a new index (the old one was unreadable), else read directly."""
    try:
        idx = ScalarIndex()
    except (sqlite3.Error, OSError):
        return {d: _direct(d) for d in dirs}
    try:
        return idx.summaries(dirs)
    except (sqlite3.Error, OSError):
        return {d: _direct(d) for d in dirs}
    finally:
        idx.close()


def _remove_index() -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(index_path() + suffix)
        except OSError:
            pass


def _direct(run_dir: str) -> list[tuple]:
    rows: list[tuple] = []
    for prefix, src, names in eventfiles.source_files(run_dir):
        events = eventfiles.read_dir(src, [os.path.join(src, n) for n in names])
        for tag, vals in sorted(summarize(events).items()):
            rows.append((prefix, tag, *vals))
    return rows
