"""The run index file: what one entry holds (stamps, head, body), reading a run into one, and the file's format.

See :mod:`luigi_guild.store.index` for the rules that decide when an entry
is trusted.
"""

from __future__ import annotations

import errno
import marshal
import os
import sys
import time

from luigi_guild.model import home
from luigi_guild.model.flagid import needed_key
from luigi_guild.store.rundir import (
    _MISSING, BATCH_MARKER, DAMAGE_KEY, NOT_UTF8, SENTINELS, UNDECODABLE, UNREADABLE, Run, decode_attr,
    read_run_file,
)

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Any, Callable

INDEX_VERSION = 5  # 3: stopped and the batch marker; 4: entries of damaged runs say what is damaged;
# 5: heads hold the ``label`` and ``exit_status`` stamps
# Stamps younger than this (ns) when read are re-checked next time.
RACY_NS = 3_000_000_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
# A larger index file is damage (10,000 runs take about 5 MB): it is ignored and rebuilt.
MAX_INDEX_BYTES = 1 << 28
_MAGIC = b"LGRI%d.%d.%d\n" % (INDEX_VERSION, sys.version_info[0], sys.version_info[1])

# Files whose stamps an entry keeps, relative to the run dir.
_FILES = (
    ".guild/opref",
    ".guild/attrs/started",
    ".guild/attrs/initialized",
    ".guild/attrs/label",
    ".guild/attrs/exit_status",
    ".guild/attrs/flags",
    ".guild/attrs/stopped",
)
F_OPREF, F_STARTED, F_INITIALIZED, F_LABEL, F_EXIT_STATUS, F_FLAGS, F_STOPPED = range(len(_FILES))
_ATTR_FILES = ((F_STARTED, "started"), (F_INITIALIZED, "initialized"), (F_LABEL, "label"),
               (F_EXIT_STATUS, "exit_status"), (F_FLAGS, "flags"), (F_STOPPED, "stopped"))

G_DIR = -1  # the ``.guild/`` directory's stamp

# Which stamps each use checks.
ORDER_FILES = (G_DIR,)  # sentinels and opref come and go there at every start and finish
# The two attrs rewritten in place after a run ends. ``stopped`` needs no check of its own: it is
# written as a run ends and removed as it restarts, each time with a sentinel change in ``.guild/``.
SHOW_FILES = (G_DIR, F_LABEL, F_EXIT_STATUS)
NEEDED_FILES = (F_FLAGS,)  # a run that does not match can only start to by its flags changing
ALL_FILES = (G_DIR,) + tuple(range(len(_FILES)))
_G_ONLY = frozenset(ORDER_FILES)
_FLAGS_ONLY = frozenset(NEEDED_FILES)

# An entry is a small head, enough to order runs and to check the stamps a table checks
# (``.guild/``, ``label``, ``exit_status``), and a body with the values.
# The file keeps heads and bodies in two sections: a default listing loads
# only the heads; the bodies section loads when a value is first needed, and
# each body (marshalled on its own) is decoded only when its run is used.
H_GUILD, H_SETTLED, H_TS, H_FLAGS, H_KEY, H_LABEL, H_EXIT_STATUS = range(7)
HEAD_LEN = 7
B_FILES, B_OPREF, B_ATTRS, B_SENTINELS, B_REMOTE = range(5)
_HEADER_LEN = len(_MAGIC) + 32


def _stamp(path: str) -> int | None:
    """A number that changes whenever ``path``'s mtime, ctime, inode or size does."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return hash((st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size))


def _read_small(path: str, dir_fd: int | None = None) -> tuple[os.stat_result, str | None] | None:
    """``(stat, text)`` of run file ``path`` (see :func:`read_run_file`), the stat taken before reading.

    None when it does not exist; the text is :data:`UNREADABLE` or :data:`NOT_UTF8` (those very
    objects) when it is damaged.
    """
    read = read_run_file(path, dir_fd=dir_fd)
    if read is None:
        return None
    st, data = read
    if data is None:
        return st, UNREADABLE
    try:
        return st, data.decode("utf-8")
    except UnicodeDecodeError:
        return st, NOT_UTF8


def _damaged(text: str | None) -> bool:
    """Whether :func:`_read_small`'s text is one of its damage notes (``is`` identity: no file text can be)."""
    return text is UNREADABLE or text is NOT_UTF8


def _timestamp(attrs: dict[str, Any]) -> int:
    """The sort key, as :attr:`Run.timestamp` computes it."""
    for name in ("started", "initialized"):
        val = attrs.get(name)
        if isinstance(val, int):
            return val
    return 0


def read_entry(
    run_dir: str, now_ns: int | None = None, racy_ns: int = RACY_NS
) -> tuple[tuple, tuple] | None:
    """Read one run directory into an index entry ``(head, body)``; None when it is not a run.

    An entry is settled (trusted later) only when no file it read is younger than ``racy_ns``.

    Stamps are taken before contents, so a file changed in between is read
    again next time (its stamp no longer matches).
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    gdir = run_dir + "/.guild"
    # Files are opened relative to ``.guild`` and ``attrs`` opened without
    # following links: a run whose ``.guild`` is a link is not a run, one whose
    # ``attrs`` is a link has no attrs (nothing outside the run is read).
    try:
        gfd = os.open(gdir, _DIR_FLAGS)
    except OSError:
        return None
    try:
        gst = os.fstat(gfd)
        damage = ""
        try:
            afd: int | None = os.open("attrs", _DIR_FLAGS, dir_fd=gfd)
        except OSError as e:
            afd = None
            if e.errno != errno.ENOENT:
                damage = ".guild/attrs " + UNREADABLE
        try:
            times = [gst.st_mtime_ns, gst.st_ctime_ns]
            fstamps: list[int | None] = []
            texts: list[str | None] = []
            for rel in _FILES:
                in_attrs = rel.startswith(".guild/attrs/")
                if in_attrs and afd is None:
                    read = None
                else:
                    read = _read_small(rel.rsplit("/", 1)[1], afd if in_attrs else gfd)
                if read is None:
                    fstamps.append(None)
                    texts.append(None)
                    continue
                st, text = read
                if _damaged(text):
                    damage = damage or "%s %s" % (rel, text)
                    text = None
                times += (st.st_mtime_ns, st.st_ctime_ns)
                fstamps.append(hash((st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size)))
                texts.append(text)
        finally:
            if afd is not None:
                os.close(afd)
        if fstamps[F_OPREF] is None:
            return None
        names = set(os.listdir(gfd))
    except OSError:
        return None
    finally:
        os.close(gfd)
    sentinels = tuple(n for n in SENTINELS if n in names)
    if BATCH_MARKER in names and os.path.isdir(gdir + "/" + BATCH_MARKER):
        sentinels += (BATCH_MARKER,)  # a batch run: its prototype lives in ``.guild/proto``
    remote = None
    if "LOCK.remote" in names:
        remote = Run(os.path.basename(run_dir), run_dir).remote
    opref_line = texts[F_OPREF]
    attrs: dict[str, Any] = {}
    for i, name in _ATTR_FILES:
        text = texts[i]
        if text is None:
            continue
        val = decode_attr(text, _MISSING)
        if val is not _MISSING:
            attrs[name] = val
        else:
            damage = damage or ".guild/attrs/%s %s" % (name, UNDECODABLE)
    if damage:
        attrs[DAMAGE_KEY] = damage
    settled = now_ns - max(times) > racy_ns
    try:
        marshal.dumps(attrs)
    except ValueError:  # values marshal cannot store (e.g. YAML dates): never trusted
        settled = False
    gstamp = hash((gst.st_mtime_ns, gst.st_ctime_ns, gst.st_ino, gst.st_size))
    key = needed_key(opref_line, attrs.get("flags"))
    head = (gstamp, settled, _timestamp(attrs), fstamps[F_FLAGS], key, fstamps[F_LABEL], fstamps[F_EXIT_STATUS])
    return head, (tuple(fstamps), opref_line, attrs, sentinels, remote)


def _head_ok(h: Any) -> bool:
    return type(h) is tuple and len(h) == HEAD_LEN and type(h[H_TS]) is int


def _body_ok(b: Any) -> bool:
    return (
        type(b) is tuple
        and len(b) == 5
        and type(b[B_FILES]) is tuple
        and len(b[B_FILES]) == len(_FILES)
        and type(b[B_ATTRS]) is dict
        and type(b[B_SENTINELS]) is tuple
    )


def index_path(root: str) -> str:
    """Where the index for runs directory ``root`` lives."""
    if root == home.runs_dir():
        return home.cache_dir("runs-index")
    import zlib

    return home.cache_dir("runs-index-%08x" % zlib.crc32(root.encode("utf-8", "surrogateescape")))


def _read_index(path: str, root: str) -> tuple[dict[str, tuple], Callable[[], dict[str, bytes]] | None, tuple | None]:
    """The heads, a function that decodes the bodies (None when there are none), and what tells
    this file's content from any other's (its header with both checksums, and its stamp; None
    when there is no usable file)."""
    read = read_run_file(path, MAX_INDEX_BYTES)
    if read is None or read[1] is None:  # missing, or damaged: rebuilt
        return {}, None, None
    st, data = read[0], read[1]
    import zlib

    try:
        if len(data) < _HEADER_LEN or not data.startswith(_MAGIC):
            raise ValueError("not an index")
        header = data[len(_MAGIC) : _HEADER_LEN]
        heads_crc, bodies_crc, heads_len = int(header[:8], 16), int(header[8:16], 16), int(header[16:], 16)
        heads_blob = data[_HEADER_LEN : _HEADER_LEN + heads_len]
        if len(heads_blob) != heads_len or zlib.crc32(heads_blob) != heads_crc:
            raise ValueError("damaged")
        loaded = marshal.loads(heads_blob)
        if type(loaded) is not tuple or len(loaded) != 2 or loaded[0] != root or type(loaded[1]) is not dict:
            raise ValueError("another root")
    except (ValueError, EOFError, TypeError):
        return {}, None, None
    file_id = (data[:_HEADER_LEN], st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    return loaded[1], lambda: _decode_bodies(data[_HEADER_LEN + heads_len :], bodies_crc), file_id


def _decode_bodies(blob: bytes, crc: int) -> dict[str, bytes]:
    """The bodies section: each run's body still marshalled, decoded when first used."""
    import zlib

    if not blob or zlib.crc32(blob) != crc:
        return {}
    try:
        bodies = marshal.loads(blob)
    except (ValueError, EOFError, TypeError):
        return {}
    return bodies if type(bodies) is dict else {}
