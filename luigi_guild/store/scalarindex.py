"""The scalar index: per-run, per-tag scalar summaries in SQLite under the Guild home's cache.

``$GUILD_HOME/cache/scalars-index.db`` is derived and never required:
delete it (or let it be corrupted) and it is rebuilt on the next call.
For each run directory it keeps a *stamp*: the (mtime, inode) of every
directory of the run that was walked and the (size, mtime) of every event
file found. A run whose stamp still matches is served from the index without
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
from typing import Iterable

from luigi_guild.model import home
from luigi_guild.store import eventfiles

RACY_NS = 2_000_000_000
_SCHEMA_VERSION = 1

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


def _walk_stamp(run_dir: str) -> tuple[list[tuple[str, str, list]], list]:
    """``(prefix, dir, file stats)`` of the run's sources and the stamp of everything walked."""
    dirs: list = []
    sources = []
    files: list = []
    for prefix, d, names in eventfiles.source_files(run_dir, dirs):
        stats = eventfiles.file_stats(d, names)
        sources.append((prefix, d, stats))
        files.extend(stats)
    return sources, [dirs, files]


def _stamp_ok(stamp: list) -> bool:
    dirs, files = stamp
    try:
        for path, mtime, ino in dirs:
            st = os.stat(path)
            if st.st_mtime_ns != mtime or st.st_ino != ino:
                return False
        for path, size, mtime in files:
            st = os.stat(path)
            if st.st_size != size or st.st_mtime_ns != mtime:
                return False
    except OSError:
        return False
    return True


def _settled(stamp: list, now_ns: int) -> bool:
    dirs, files = stamp
    newest = max([d[1] for d in dirs] + [f[2] for f in files] + [0])
    return now_ns - newest > RACY_NS


class ScalarIndex:
    """An open scalar index; :meth:`summaries` refreshes the runs it is asked about."""

    def __init__(self, path: str | None = None):
        self.path = path or index_path()
        self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        for attempt in range(2):
            try:
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version != _SCHEMA_VERSION:
                    self._create(db)
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
            DROP TABLE IF EXISTS run;
            DROP TABLE IF EXISTS source;
            DROP TABLE IF EXISTS scalar;
            CREATE TABLE run (dir TEXT PRIMARY KEY, stamp BLOB, settled INTEGER);
            CREATE TABLE source (dir TEXT, prefix TEXT, stamp TEXT, PRIMARY KEY (dir, prefix));
            CREATE TABLE scalar (dir TEXT, prefix TEXT, tag TEXT, first_val REAL, first_step INTEGER,
              last_val REAL, last_step INTEGER, min_val REAL, min_step INTEGER, max_val REAL,
              max_step INTEGER, avg_val REAL, total REAL, count INTEGER);
            CREATE INDEX scalar_dir ON scalar (dir);
            PRAGMA user_version = %d;
            """
            % _SCHEMA_VERSION
        )

    def close(self) -> None:
        self.db.close()

    def summaries(self, run_dirs: list[str]) -> dict[str, list[tuple]]:
        """Per run dir: ``(prefix, tag, *FIELDS)`` rows sorted by (prefix, tag)."""
        wanted = set(run_dirs)
        known: dict[str, tuple[bytes, int]] = {}
        for d, stamp, settled in self.db.execute("SELECT dir, stamp, settled FROM run"):
            if d in wanted:
                known[d] = (stamp, settled)
        stale = []
        for d in run_dirs:
            k = known.get(d)
            if k is None or not k[1] or not _stamp_ok(marshal.loads(k[0])):
                stale.append(d)
        if stale:
            self._refresh(stale)
        out: dict[str, list[tuple]] = {d: [] for d in run_dirs}
        if len(wanted) > 200:
            rows: Iterable = self.db.execute("SELECT * FROM scalar ORDER BY dir, prefix, tag")
        else:
            rows = []
            for d in run_dirs:
                rows.extend(self.db.execute("SELECT * FROM scalar WHERE dir=? ORDER BY prefix, tag", (d,)))
        for row in rows:
            lst = out.get(row[0])
            if lst is not None:
                lst.append(tuple(row[1:]))
        return out

    def _refresh(self, dirs: list[str]) -> None:
        now = time.time_ns()
        db = self.db
        if len(dirs) > 64:
            old_all: dict[str, dict[str, str]] = {}
            for d, prefix, stamp in db.execute("SELECT dir, prefix, stamp FROM source"):
                old_all.setdefault(d, {})[prefix] = stamp
            jobs = [(d, old_all.get(d, {})) for d in dirs]
        else:
            jobs = [(d, dict(db.execute("SELECT prefix, stamp FROM source WHERE dir=?", (d,)).fetchall())) for d in dirs]
        scanned = _scan_all(jobs)
        db.execute("BEGIN IMMEDIATE")
        try:
            for (d, old), (prefixes, changed, stamp) in zip(jobs, scanned):
                for prefix, (sstamp, summary) in changed.items():
                    db.execute("DELETE FROM scalar WHERE dir=? AND prefix=?", (d, prefix))
                    rows = [(d, prefix, tag, *vals) for tag, vals in summary]
                    db.executemany("INSERT INTO scalar VALUES (%s)" % ",".join("?" * 14), rows)
                    db.execute("INSERT OR REPLACE INTO source VALUES (?, ?, ?)", (d, prefix, sstamp))
                for prefix in set(old) - set(prefixes):
                    db.execute("DELETE FROM scalar WHERE dir=? AND prefix=?", (d, prefix))
                    db.execute("DELETE FROM source WHERE dir=? AND prefix=?", (d, prefix))
                db.execute(
                    "INSERT OR REPLACE INTO run VALUES (?, ?, ?)",
                    (d, marshal.dumps(stamp), 1 if _settled(stamp, now) else 0),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _scan(job: tuple[str, dict[str, str]]) -> tuple[list[str], dict[str, tuple[str, list]], list]:
    """Walk one run: its source prefixes, the summaries of sources whose files changed, its stamp."""
    run_dir, old = job
    sources, stamp = _walk_stamp(run_dir)
    changed: dict[str, tuple[str, list]] = {}
    for prefix, src, stats in sources:
        sstamp = eventfiles.files_stamp(stats)
        if old.get(prefix) == sstamp:
            continue
        events = eventfiles.read_dir(src, [path for path, _size, _mtime in stats])
        changed[prefix] = (sstamp, sorted(summarize(events).items()))
    return [prefix for prefix, _src, _stats in sources], changed, stamp


PARALLEL_MIN = 500


def _scan_all(jobs: list[tuple[str, dict[str, str]]]) -> list[tuple[list[str], dict[str, tuple[str, list]], list]]:
    """:func:`_scan` for every job; many runs (a cold index) are read by one process per core."""
    import threading

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if len(jobs) < PARALLEL_MIN or cpus < 2 or threading.active_count() > 1:
        return [_scan(job) for job in jobs]
    import multiprocessing

    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(cpus, 8)) as pool:
            return pool.map(_scan, jobs, chunksize=64)
    except OSError:
        return [_scan(job) for job in jobs]


def summaries(run_dirs: list[str]) -> dict[str, list[tuple]]:
    """Scalar summary rows of ``run_dirs`` through the index; a broken index is rebuilt.

    When the cache cannot be written at all (read-only home), the event files
    are read directly.
    """
    try:
        idx = ScalarIndex()
    except (sqlite3.Error, OSError):
        return {d: _direct(d) for d in run_dirs}
    try:
        return idx.summaries(run_dirs)
    except sqlite3.DatabaseError:
        idx.close()
        _remove_index()
        try:
            idx = ScalarIndex()
            return idx.summaries(run_dirs)
        except (sqlite3.Error, OSError):
            return {d: _direct(d) for d in run_dirs}
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
