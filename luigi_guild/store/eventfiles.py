"""TensorBoard event files: written for output scalars and read from anywhere in a run directory.

Writing uses the ``Event``/``Summary`` protobuf classes that ``tensorboard``
ships (``tensorboard.compat.proto``) and TFRecord framing with masked CRC32C
checksums from ``google-crc32c``: not ``tensorboard.summary``, whose package
init pulls in numpy (a quarter of a second for a sweep's first scalar).
Reading is the same pieces the other way round (:func:`read_records` checks
both checksums of every record), not tensorboard's ``RawEventFileLoader``,
which imports numpy and tensorboard's TensorFlow stub. Both are imported only
when a file is written or read: a run that prints no scalar, and commands
that do not look at scalars, never load them.

Files are named and laid out as guildai 0.9.0 lays them: output scalars go to
``RUN_DIR/.guild/events.out.tfevents.<secs>.<host>.<pid>.<n>``, created on the
first scalar, every event with ``wall_time`` 0 and flushed at once.
"""

from __future__ import annotations

import itertools
import os
import struct
import time
TYPE_CHECKING = False  # typing costs milliseconds to import: annotations only
if TYPE_CHECKING:
    from typing import Any, Iterator

EVENTS_MARK = ".tfevents."
_writer_counter = itertools.count()
_CRC_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC32C of ``data``, rotated right by 15 bits plus a constant (mod 2**32)."""
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord: length (u64), its masked CRC, the data, the data's masked CRC (little-endian)."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


_hostname: list[str] = []


def guild_style_name() -> str:
    """A new event file name as guildai gives one: ``events.out.tfevents.<secs>.<host>.<pid>.<n>``."""
    if not _hostname:
        import socket

        _hostname.append(socket.gethostname())
    return "events.out.tfevents.%010d.%s.%d.%d" % (time.time(), _hostname[0], os.getpid(), next(_writer_counter))


_first_record: list[bytes] = []  # the file-version event every event file starts with


class EventWriter:
    """Appends scalar events to one event file in ``logdir``, created on the first scalar.

    The file is named as guildai names it, unless ``name`` is given.
    """

    def __init__(self, logdir: str, name: str | None = None):
        self.logdir = logdir
        self.name = name
        self.path: str | None = None
        self._file: Any = None
        self._pb: Any = None

    def _open(self) -> None:
        name = self.name or guild_style_name()
        self.path = os.path.join(self.logdir, name)
        # A new file, never an existing one or a link's target.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
        self._file = os.open(self.path, flags, 0o644)  # a plain descriptor: each record is one write
        from tensorboard.compat.proto import event_pb2, summary_pb2

        self._pb = (event_pb2, summary_pb2)
        if not _first_record:
            _first_record.append(frame_record(event_pb2.Event(wall_time=0.0, file_version="brain.Event:2").SerializeToString()))
        self._put(_first_record[0])

    def _put(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._file, view) :]

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        if self._file is None:
            self._open()
        event_pb2, summary_pb2 = self._pb
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        self._put(frame_record(event_pb2.Event(wall_time=0.0, step=int(step), summary=summary).SerializeToString()))

    def close(self) -> None:
        if self._file is not None:
            try:
                os.close(self._file)
            finally:
                self._file = None


# ------------------------------------------------------------------ reading


def _is_run_dir(path: str) -> bool:
    return os.path.exists(os.path.join(path, ".guild", "opref"))


def source_files(run_dir: str, walked: list | None = None) -> list[tuple[str, str, list[str]]]:
    """``(prefix, dir, event file names)`` for every directory under ``run_dir`` holding event files.

    The prefix is the directory relative to the run dir with ``/`` separators
    (``""`` for the root, ``.guild`` for output scalars); names are sorted. A
    symlinked directory is followed only when it points at a run (batch
    trials link their runs); ``.guild/attrs`` is not searched. ``walked``,
    when given, gets ``(dir, stat)`` of every directory read.
    """
    out: list[tuple[str, str, list[str]]] = []
    guild_dir = os.path.join(run_dir, ".guild")
    stack = [run_dir]
    while stack:
        d = stack.pop()
        try:
            if walked is not None:
                walked.append((d, os.stat(d)))
            entries = list(os.scandir(d))
        except OSError:
            continue
        names = []
        subdirs = []
        skip_attrs = d == guild_dir  # attrs/ holds run attributes only
        for e in entries:
            try:
                if skip_attrs and e.name == "attrs":
                    continue
                if e.is_dir(follow_symlinks=True):
                    if e.is_symlink() and not _is_run_dir(e.path):
                        continue
                    subdirs.append(e.path)
                elif EVENTS_MARK in e.name:
                    names.append(e.name)
            except OSError:
                continue
        if names:
            rel = os.path.relpath(d, run_dir)
            out.append(("" if rel == "." else rel.replace(os.sep, "/"), d, sorted(names)))
        stack.extend(sorted(subdirs, reverse=True))
    out.sort()
    return out


def source_dirs(run_dir: str, walked: list | None = None) -> list[tuple[str, str]]:
    """``(prefix, dir)`` for every directory under ``run_dir`` holding an event file (see :func:`source_files`)."""
    return [(prefix, d) for prefix, d, _names in source_files(run_dir, walked)]


def event_files(dir_path: str) -> list[str]:
    try:
        names = sorted(n for n in os.listdir(dir_path) if EVENTS_MARK in n)
    except OSError:
        return []
    return [os.path.join(dir_path, n) for n in names]


def files_stamp(stats: list[tuple[str, int, int]]) -> str:
    """A digest of ``(path, size, mtime_ns)`` for a directory's event files: changes with any write."""
    import hashlib

    h = hashlib.md5()
    for path, size, mtime in stats:
        h.update(("%s\n%d\n%d\n" % (path, size, mtime)).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def file_stats(dir_path: str, names: list[str]) -> list[tuple[str, int, int]]:
    out = []
    for name in names:
        path = os.path.join(dir_path, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        out.append((path, st.st_size, st.st_mtime_ns))
    return out


def preload_reader() -> None:
    """Import the event reader now (before forking readers, so they share one import of it)."""
    try:
        import google_crc32c  # noqa: F401
        import tensorboard.compat.proto.event_pb2  # noqa: F401
    except ImportError:  # pragma: no cover - both are dependencies
        pass


def read_records(path: str) -> Iterator[bytes]:
    """The data of each TFRecord record of file ``path``, in order, up to the first one that is
    incomplete (still being written) or fails either checksum (corrupt)."""
    with open(path, "rb") as f:
        while True:
            head = f.read(12)
            if len(head) < 12 or struct.unpack("<I", head[8:])[0] != masked_crc32c(head[:8]):
                return
            (length,) = struct.unpack("<Q", head[:8])
            body = f.read(length + 4)
            if len(body) < length + 4:
                return
            data = body[:length]
            if struct.unpack("<I", body[length:])[0] != masked_crc32c(data):
                return
            yield data


def read_file(path: str) -> Iterator[tuple[str, float, int]]:
    """``(tag, value, step)`` for each scalar in one event file, in file order.

    Only complete records with valid checksums are read: a truncated file (one
    still being written) or a corrupt record ends the file there, so values
    are missing rather than wrong. Scalars are ``simple_value`` values and
    single-element float tensors; other summaries are skipped.
    """
    try:
        from google.protobuf.message import DecodeError
        from tensorboard.compat.proto import event_pb2
    except ImportError:  # pragma: no cover - tensorboard is a dependency
        return
    try:
        for raw in read_records(path):
            try:
                event = event_pb2.Event.FromString(raw)
            except DecodeError:
                return
            if not event.HasField("summary"):
                continue
            for val in event.summary.value:
                f = _scalar_value(val)
                if f is not None:
                    yield val.tag, f, int(event.step)
    except Exception:  # any I/O or decoding failure: the rest of the file is unreadable
        return


_FLOAT_DTYPES = {1: "float", 2: "double", 19: "half"}


def _scalar_value(val: Any) -> float | None:
    kind = val.WhichOneof("value")
    if kind == "simple_value":
        return float(val.simple_value)
    if kind == "tensor":
        t = val.tensor
        if t.dtype not in _FLOAT_DTYPES or t.tensor_shape.dim:
            return None
        if t.float_val:
            return float(t.float_val[0])
        if t.double_val:
            return float(t.double_val[0])
        if t.tensor_content:
            import struct

            fmt = {1: "<f", 2: "<d", 19: "<e"}[t.dtype]
            try:
                return float(struct.unpack(fmt, t.tensor_content)[0])
            except struct.error:
                return None
    return None


def read_dir(dir_path: str, paths: list[str] | None = None) -> list[tuple[str, float, int]]:
    """Every scalar of the event files in ``dir_path`` (or of ``paths``), files in name order."""
    out: list[tuple[str, float, int]] = []
    for path in event_files(dir_path) if paths is None else paths:
        out.extend(read_file(path))
    return out
