"""The last plain ``guild compare --csv`` table, kept as CSV text for when nothing it came from changed.

``$GUILD_HOME/cache/compare-csv`` holds a key and the text. The key is
everything the table is made from as the indexes hold it
(:meth:`luigi_guild.store.warm.Warm.inputs`: the run index file's checksums
and stamp, the runs listed in order, the scalar index entries' stamps and a
checksum of their summaries), the local
time zone (``started`` is shown in local time) and this format's version,
compared byte for byte.
The text is used only when the key matches *and* every one of those entries
has just been checked against its run's files
(:meth:`~luigi_guild.store.warm.Warm.all_fresh`), so it is what making the table
again would give. A table that hangs on anything else is never kept: a run
with ``LOCK``, ``PENDING`` or ``LOCK.remote`` (its status and time depend on
live processes and the clock), a run of a guild.yml operation (its columns
come from that file) or a builtin one (its name may come from ``.guild/proto``),
warnings. The key also holds the stamps of the modules that make the table, so
other code keeps nothing made by this code. Like the indexes it is only a cache: delete
it and the table is made again.
"""

from __future__ import annotations

import os
import time

from luigi_guild.model import home
from luigi_guild.store.rundir import Run

VERSION = 1
_VOLATILE = ("LOCK", "PENDING", "LOCK.remote")


def path() -> str:
    return home.cache_dir("compare-csv")


def key(inputs: bytes) -> bytes:
    """The cache key for a table made from ``inputs`` here and now, by this code."""
    zone = (VERSION, os.environ.get("TZ"), time.timezone, time.altzone, time.daylight, time.tzname)
    return repr((zone, _code())).encode("utf-8", "backslashreplace") + b"\n" + inputs


# The modules whose code decides what a plain ``compare --csv`` prints.
_CODE = (
    "commands/comparecsv.py", "model/colspec.py", "model/flagid.py", "model/opref.py", "model/status.py",
    "model/table.py", "store/compare.py", "store/comparecache.py", "store/eventfiles.py", "store/index.py",
    "store/indexfile.py", "store/rundir.py", "store/scalarindex.py", "store/scalars.py", "store/warm.py",
)


def _code() -> list[tuple]:
    """The stamps (size, mtime) of the modules that make the table: other code (a change to a
    column rule) keeps nothing made by this code."""
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out: list[tuple] = []
    for rel in _CODE:
        try:
            st = os.stat(os.path.join(pkg, rel))
        except OSError:
            out.append((rel, None))
            continue
        out.append((rel, st.st_size, st.st_mtime_ns))
    return out


def read(k: bytes) -> tuple[str, int] | None:
    """The text kept under key ``k`` and its number of rows, else None."""
    try:
        with open(path(), "rb") as f:
            data = f.read()
    except OSError:
        return None
    head, sep, rest = data.partition(b"\n")
    sizes = head.split(b" ")
    if not sep or len(sizes) != 2 or not all(x.isdigit() for x in sizes) or int(sizes[0]) != len(k):
        return None
    if rest[: len(k)] != k:
        return None
    try:
        return rest[len(k) :].decode("utf-8"), int(sizes[1])
    except UnicodeDecodeError:
        return None


def keepable(runs: list[Run]) -> bool:
    """Whether a table of ``runs`` depends only on the entries the key covers."""
    for run in runs:
        if any(run.has(name) for name in _VOLATILE):
            return False
        try:
            if run.opref.pkg_type in ("guildfile", "builtin"):  # columns or names from other files
                return False
        except (OSError, ValueError):
            return False
    return True


def write(k: bytes, text: str, rows: int) -> None:
    """Keep ``text`` (``rows`` rows) under key ``k`` (atomically; errors are ignored: it is only a cache)."""
    dest = path()
    tmp = "%s.tmp-%d-%s" % (dest, os.getpid(), os.urandom(4).hex())
    try:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(b"%d %d\n" % (len(k), rows) + k + text.encode("utf-8"))
        os.replace(tmp, dest)
    except (OSError, UnicodeEncodeError):
        try:
            os.unlink(tmp)
        except OSError:
            pass
