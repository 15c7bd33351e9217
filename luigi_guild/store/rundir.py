"""One run directory in Guild's layout: attributes, sentinels and status.

The files are the truth. Nothing here caches a status: it is inferred from
the files every time it is asked for.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time

from luigi_guild.model.atomic import create_replacing, write_file_atomic
from luigi_guild.model.opref import OpRef
from luigi_guild.model.status import Status, status_of_exit

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Any

# Attrs a preloaded run answers from memory (the ones listings and --needed use).
_PRELOADED_ATTRS = frozenset(("started", "initialized", "label", "exit_status", "flags", "stopped"))

_MISSING = object()

# In a run index entry's attrs: what is damaged in the run (absent when nothing is).
DAMAGE_KEY = "\x00damaged"
UNREADABLE = "cannot be read (not a regular file inside the run, or too large)"
NOT_UTF8 = "is not UTF-8 text"
UNDECODABLE = "cannot be decoded (not plain YAML, too deep or too large)"

_damage_seen: set[str] = set()


def report_damage(run_id: str, rel: str, what: str) -> None:
    """Warn once per process, on one stderr line, that run ``run_id`` is damaged: file ``rel`` ``what``.

    Called only where a read found damage, so intact runs cost nothing.
    """
    if run_id in _damage_seen:
        return
    _damage_seen.add(run_id)
    try:
        sys.stderr.write("WARNING: run %s is damaged: %s %s\n" % (run_id, rel, what))
        sys.stderr.flush()
    except (OSError, ValueError):  # no stderr to warn on
        pass


# The most a run file read for its value (attrs, opref, markers) may hold: anything
# larger is damage, and reads as unreadable instead of filling memory.
MAX_RUN_FILE = 1 << 20
# Longer integers than this are damage (Python refuses to parse over 4300 digits).
_MAX_INT_DIGITS = 64

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


class NotRegular(OSError):
    """A run file that is not a regular file (a FIFO, a device, a directory, a link)."""


def open_regular(path: str, dir_fd: int | None = None) -> int:
    """An fd on regular file ``path``, opened without following a final link and never blocking.

    Raises :class:`NotRegular` when ``path`` is a link, FIFO, device or
    directory (nothing is read from it), else the ``OSError`` of the open.
    """
    try:
        fd = os.open(path, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):  # a link, a socket, a directory
            raise NotRegular(e.errno, "not a regular file", path) from None
        raise
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegular(errno.EINVAL, "not a regular file", path)
    return fd


def read_run_file(path: str, limit: int = MAX_RUN_FILE, dir_fd: int | None = None) -> tuple[os.stat_result, bytes | None] | None:
    """``(stat, bytes)`` of a run file, the one way run files are read for their values.

    None when it does not exist. The bytes are None when it exists but is not a
    regular file (a link, FIFO, device, directory), holds more than ``limit``
    bytes or cannot be read: damage reads as unreadable, never blocks and
    never fills memory. The stat is taken on the opened file (``lstat`` for
    one that was not opened), before reading.
    """
    try:
        fd = open_regular(path, dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        try:  # an existing file we may not open still has a stamp
            return os.stat(path, dir_fd=dir_fd, follow_symlinks=False), None
        except OSError:
            return None
    return _read_fd(fd, limit)


def _read_fd(fd: int, limit: int) -> tuple[os.stat_result, bytes | None] | None:
    """``(stat, bytes)`` of open regular file ``fd`` (closed here); bytes None when over ``limit``."""
    try:
        st = os.fstat(fd)
        if st.st_size > limit:
            return st, None
        chunks = []
        want = st.st_size + 1
        got = 0
        while True:
            data = os.read(fd, want)
            if not data:
                break
            got += len(data)
            if got > limit:  # grew while being read
                return st, None
            chunks.append(data)
            want = 65536
        return st, b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


class Outside(OSError):
    """A path that leads (through ``..`` or a link) out of the directories it may use."""


_MAX_LINK_HOPS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


def open_beneath(root: str, rel: str, link_roots: tuple[str, ...] = ()) -> int:
    """An fd on regular file ``rel`` under directory ``root``, never leaving it at open time.

    Each part of ``rel`` is opened relative to the directory fd before it,
    without following links, so swapping a part for a link while this runs
    cannot lead outside (no check-then-open race). A link is followed only
    when its target lies inside ``root`` or one of ``link_roots`` (for
    example Guild home's runs, where pipeline links point); the walk then
    goes on from that root's fd. Raises :class:`Outside` for a path or link
    that leaves them, :class:`NotRegular` for a FIFO, device or socket,
    ``IsADirectoryError``, ``FileNotFoundError`` and other ``OSError``.
    """
    roots = [os.path.normpath(os.path.abspath(r)) for r in (root,) + link_roots]
    parts = _parts_inside(os.path.normpath(os.path.join(roots[0], rel)), roots[0])
    if parts is None:
        raise Outside(errno.EACCES, "outside the run directory", rel)
    where = roots[0]
    cur = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    hops = 0
    try:
        i = 0
        while True:
            if not parts:
                raise IsADirectoryError(errno.EISDIR, "Is a directory", rel)
            name = parts[i]
            last = i == len(parts) - 1
            try:
                fd = os.open(name, _READ_FLAGS if last else _DIR_FLAGS, dir_fd=cur)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO):
                    raise
                try:
                    target = os.readlink(name, dir_fd=cur)
                except OSError:
                    if e.errno == errno.ENXIO:
                        raise NotRegular(e.errno, "not a regular file", rel) from None
                    raise e from None
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    raise OSError(errno.ELOOP, "Too many levels of symbolic links", rel) from None
                dest = os.path.normpath(os.path.join(where, target))
                for r in roots:
                    inside = _parts_inside(dest, r)
                    if inside is not None:
                        break
                else:
                    raise Outside(errno.EACCES, "outside the run directory", rel) from None
                os.close(cur)
                cur = -1
                where = r
                cur = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                parts = inside + parts[i + 1 :]
                i = 0
                continue
            if not last:
                os.close(cur)
                cur = fd
                where = os.path.join(where, name)
                i += 1
                continue
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode):
                return fd
            os.close(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", rel)
            raise NotRegular(errno.EINVAL, "not a regular file", rel)
    finally:
        if cur >= 0:
            os.close(cur)


def _parts_inside(path: str, root: str) -> list[str] | None:
    """``path``'s parts below ``root`` (both normalised), or None when it is not inside."""
    if path == root:
        return []
    prefix = root.rstrip("/") + "/"
    if not path.startswith(prefix):
        return None
    return path[len(prefix) :].split("/")


def read_beneath(root: str, rel: str, limit: int = MAX_RUN_FILE) -> tuple[bool, bytes | None]:
    """``(exists, bytes)`` of file ``rel`` of run directory ``root``, opened beneath it.

    Like :func:`read_run_file`, and every part of ``rel`` is opened without
    following links that leave ``root`` (:func:`open_beneath`): a run's
    ``.guild`` or ``attrs`` swapped for a link elsewhere reads as damaged
    (exists, bytes None), never as the files it points to.
    """
    try:
        fd = open_beneath(root, rel)
    except (FileNotFoundError, NotADirectoryError):
        return False, None
    except OSError:
        return True, None
    read = _read_fd(fd, limit)
    return (False, None) if read is None else (True, read[1])


def read_run_text(path: str, limit: int = MAX_RUN_FILE) -> str | None:
    """A run file's UTF-8 text; None when missing, unreadable (see :func:`read_run_file`) or not UTF-8."""
    read = read_run_file(path, limit)
    if read is None or read[1] is None:
        return None
    try:
        return read[1].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_plain_int(s: str) -> bool:
    """Whether ``s`` is a decimal integer YAML reads as that same int (no leading zeros)."""
    digits = s[1:] if s[:1] == "-" else s
    return digits.isascii() and digits.isdigit() and (digits[0] != "0" or digits == "0")


def decode_attr(text: str, default: Any = None) -> Any:
    """An attr file's text decoded (YAML; plain integers without loading YAML), or ``default``.

    Damaged text (an integer of thousands of digits, YAML that does not
    load, a document that expands past :data:`yamlutil.MAX_NODES`) gives ``default``.
    """
    stripped = text.strip()
    if _is_plain_int(stripped):
        return int(stripped) if len(stripped) <= _MAX_INT_DIGITS else default
    from luigi_guild.model import yamlutil

    try:
        return yamlutil.decode(text)
    except Exception:
        return default


def now_us() -> int:
    """Current time in integer microseconds since the epoch (Guild's timestamps)."""
    return int(time.time() * 1_000_000)


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (zombies count as gone)."""
    if pid <= 0:
        return False
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    except OSError:
        import psutil

        return psutil.pid_exists(pid)
    # Field 3 (after the parenthesised command name) is the state.
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state != b"Z"


def proc_start_time(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the parenthesised command name start at field 3 (state).
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


_BOOT_ID: list[str] = []


def boot_id() -> str:
    """This boot's id (``/proc/sys/kernel/random/boot_id``), or ``-`` when unknown."""
    if not _BOOT_ID:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _BOOT_ID.append(f.read().strip() or "-")
        except OSError:
            _BOOT_ID.append("-")
    return _BOOT_ID[0]


def process_marker(pid: int) -> str:
    """What ``LOCK`` and ``PENDING`` record about a process.

    The pid comes first, padded with spaces to 10 characters, so Guild (which
    reads the first 10 characters as an integer) reads the pid. The second line
    holds the process start time and the boot id: together with the pid they
    tell the process apart from a later one that reuses its pid.
    """
    start = proc_start_time(pid)
    if start is None:
        return str(pid)
    return marker_template() % (pid, start)


def marker_template() -> str:
    """:func:`process_marker`'s text with ``%d`` for the pid and for its start time (a forked
    trial fills them in for itself)."""
    return "%%-10d\n%%d %s\n" % boot_id().replace("%", "%%")


def marker_pid(raw: bytes | str) -> int | None:
    """The pid in a marker as Guild reads it: the first 10 characters as an integer."""
    head = raw[:10]
    if isinstance(head, bytes):
        head = head.decode("utf-8", "replace")
    try:
        pid = int(head)
    except ValueError:
        return None
    return pid if pid > 0 else None


def marker_alive(raw: bytes) -> bool:
    """Whether the process a marker names is still that process.

    A bare pid (as Guild writes it) counts while that pid exists. A pid with
    a start time and boot id counts only when both still match.
    """
    pid = marker_pid(raw)
    if pid is None or not pid_alive(pid):
        return False
    ident = raw[10:].split()
    if len(ident) < 2:
        return True
    try:
        start = int(ident[0])
    except ValueError:
        return True
    if ident[1].decode("ascii", "replace") != boot_id():
        return False
    return proc_start_time(pid) == start


def remote_name(raw: bytes | None) -> str | None:
    """The remote a ``LOCK.remote`` file's content names: None when empty, ``?`` when damaged."""
    if raw is None:
        return "?"
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return "?"
    name = text.split(":", 1)[0]
    if not name:
        return None
    return name if name.isprintable() else "?"


def _read_text_or_raise(root: str, rel: str) -> str:
    """Run file ``rel``'s UTF-8 text; ``OSError``/``ValueError`` when missing or damaged."""
    exists, data = read_beneath(root, rel)
    if not exists:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", rel)
    if data is None:
        raise NotRegular(errno.EINVAL, "not a readable regular file", rel)
    return data.decode("utf-8")  # UnicodeDecodeError is a ValueError


# Space set aside at start for the attrs a run's end must record (see Run.reserve_attrs).
RESERVE_PREFIX = ".reserved-"
RESERVE_BYTES = 4096


# Sentinel files whose presence the status rules look at.
SENTINELS = ("LOCK.remote", "PENDING", "STAGED", "LOCK")
# The ``.guild`` entry that makes a run a batch run (its prototype run); the
# run index records its presence with the sentinels.
BATCH_MARKER = "proto"


class Run:
    """A run directory: ``<path>/.guild/`` holds its metadata.

    A run made by :meth:`preloaded` answers ``get``/``has``/``opref`` from
    values read moments ago (by the run index, after checking their stamps)
    instead of the files: use such runs for one listing, then drop them.
    ``LOCK``'s pid is always read and checked live.
    """

    __slots__ = ("id", "path", "_opref", "_attrs", "_sentinels", "_remote", "guild_stamp")

    def __init__(self, run_id: str, path: str):
        self.id = run_id
        self.path = path
        self._opref: OpRef | None = None
        self._attrs: dict[str, Any] | None = None
        self._sentinels: frozenset[str] | None = None
        self._remote: str | None = None
        # The run index's stamp of ``.guild/`` as it checked it moments ago (preloaded runs only).
        self.guild_stamp: int | None = None

    @classmethod
    def preloaded(
        cls,
        run_id: str,
        path: str,
        opref: OpRef | None,
        attrs: dict[str, Any],
        sentinels: frozenset[str],
        remote: str | None = None,
        guild_stamp: int | None = None,
    ) -> "Run":
        """A run whose ``attrs`` (missing ones absent), sentinels and opref are already known."""
        run = cls(run_id, path)
        run.guild_stamp = guild_stamp
        if DAMAGE_KEY in attrs:
            rel, _, what = str(attrs[DAMAGE_KEY]).partition(" ")
            report_damage(run_id, rel, what)
        elif opref is None:
            report_damage(run_id, ".guild/opref", UNDECODABLE)
        elif remote == "?":
            report_damage(run_id, ".guild/LOCK.remote", NOT_UTF8)
        run._opref = opref
        run._attrs = attrs
        run._sentinels = sentinels
        run._remote = remote
        return run

    def __repr__(self) -> str:
        return "<Run %s>" % self.id

    @classmethod
    def for_dir(cls, path: str) -> "Run":
        """The run whose directory is ``path`` (its id is the basename)."""
        path = os.path.abspath(path)
        return cls(os.path.basename(path), path)

    # ------------------------------------------------------------------ paths

    @property
    def short_id(self) -> str:
        return self.id[:8]

    def guild_path(self, *parts: str) -> str:
        return os.path.join(self.path, ".guild", *parts)

    def attr_path(self, name: str) -> str:
        return os.path.join(self.path, ".guild", "attrs", name)

    # ------------------------------------------------------------------ opref

    @property
    def opref(self) -> OpRef:
        if self._opref is None:
            try:
                self._opref = OpRef.parse(_read_text_or_raise(self.path, ".guild/opref"))
            except FileNotFoundError:
                raise
            except UnicodeDecodeError:
                report_damage(self.id, ".guild/opref", NOT_UTF8)
                raise
            except ValueError:
                report_damage(self.id, ".guild/opref", UNDECODABLE)
                raise
            except OSError:
                report_damage(self.id, ".guild/opref", UNREADABLE)
                raise
        return self._opref

    def open_dir(self, rel: str) -> int:
        """An fd on directory ``rel`` of the run (``.guild``, ``.guild/attrs``), no part of it a link.

        Files are written relative to it, so a run whose ``.guild`` or
        ``attrs`` was swapped for a link never has files written elsewhere.
        """
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in rel.split("/"):
                sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = sub
        except BaseException:
            os.close(fd)
            raise
        return fd

    def write_file(self, rel: str, data: str | bytes) -> None:
        """Write run file ``rel`` (under ``.guild``) atomically, never through a link."""
        dirname, name = rel.rsplit("/", 1)
        fd = self.open_dir(dirname)
        try:
            write_file_atomic(name, data, dir_fd=fd)
        finally:
            os.close(fd)

    def write_opref(self, opref: OpRef) -> None:
        self.write_file(".guild/opref", opref.encode())
        self._opref = opref

    @property
    def op_name(self) -> str:
        """The operation as listings show it (``?`` when the opref is unreadable).

        A batch run (builtin ``+`` or optimizer opref) shows its prototype
        operation: ``echo.py+`` or ``echo.py+random``.
        """
        try:
            opref = self.opref
        except (OSError, ValueError):
            return "?"
        if opref.pkg_type == "builtin" and opref.pkg_name == "guildai":
            try:
                proto = OpRef.parse(_read_text_or_raise(self.path, ".guild/proto/.guild/opref")).display
            except (OSError, ValueError):
                return opref.display
            return proto + ("+" if opref.op_name == "+" else "+" + opref.display)
        return opref.display

    # ------------------------------------------------------------------ attrs

    def get(self, name: str, default: Any = None) -> Any:
        """The decoded value of attr ``name``, or ``default`` if missing or corrupt."""
        if self._attrs is not None and name in _PRELOADED_ATTRS:
            val = self._attrs.get(name, _MISSING)
            if val is _MISSING:
                return default
            return dict(val) if isinstance(val, dict) else val
        exists, data = read_beneath(self.path, ".guild/attrs/" + name)
        if data is None:
            if exists:
                report_damage(self.id, ".guild/attrs/" + name, UNREADABLE)
            return default
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            report_damage(self.id, ".guild/attrs/" + name, NOT_UTF8)
            return default
        val = decode_attr(text, _MISSING)
        if val is _MISSING:
            report_damage(self.id, ".guild/attrs/" + name, UNDECODABLE)
            return default
        return val

    def read_raw_attr(self, name: str) -> str | None:
        """The attr file's text; None when missing, and ``""`` when it exists but is damaged
        (not a regular file, too large, not UTF-8)."""
        exists, data = read_beneath(self.path, ".guild/attrs/" + name)
        if not exists:
            return None
        if data is None:
            report_damage(self.id, ".guild/attrs/" + name, UNREADABLE)
            return ""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            report_damage(self.id, ".guild/attrs/" + name, NOT_UTF8)
            return ""

    def write_attr(self, name: str, value: Any) -> None:
        """Write attr ``name`` atomically as a YAML document."""
        from luigi_guild.model import yamlutil

        self.write_file(".guild/attrs/" + name, yamlutil.encode(value) + "\n")

    def write_attrs(self, values: dict[str, Any]) -> None:
        """Write several attrs, each atomically as :meth:`write_attr` does, opening ``.guild/attrs`` once."""
        from luigi_guild.model import yamlutil

        fd = self.open_dir(".guild/attrs")
        try:
            for name, value in values.items():
                write_file_atomic(name, yamlutil.encode(value) + "\n", dir_fd=fd)
        finally:
            os.close(fd)

    def reserve_attrs(self, names: tuple[str, ...]) -> None:
        """Set aside disk space for attrs ``names`` (hidden ``.reserved-NAME`` files of
        :data:`RESERVE_BYTES`), so :meth:`write_reserved_attr` can record them on a full disk."""
        fd = self.open_dir(".guild/attrs")
        try:
            for name in names:
                write_file_atomic(RESERVE_PREFIX + name, b" " * RESERVE_BYTES, dir_fd=fd)
        finally:
            os.close(fd)

    def write_reserved_attr(self, name: str, value: Any) -> None:
        """:meth:`write_attr`, written over the space :meth:`reserve_attrs` set aside (no new
        blocks needed, so it works on a full disk) and renamed into place, when there is such space."""
        self.write_reserved_attrs({name: value}, drop=False)

    def write_reserved_attrs(self, values: dict[str, Any], drop: bool = True) -> None:
        """:meth:`write_reserved_attr` for each of ``values``, opening ``.guild/attrs`` once; then
        (``drop``) the space set aside for them is given back, as :meth:`drop_reserved` does."""
        from luigi_guild.model import yamlutil

        fd = self.open_dir(".guild/attrs")
        try:
            for name, value in values.items():
                data = (yamlutil.encode(value) + "\n").encode("utf-8")
                # The space set aside first: no new file to make (creating files is what costs most
                # on a busy disk), and no new blocks needed; a run without it gets a new file.
                f = None
                if len(data) <= RESERVE_BYTES:
                    try:
                        f = os.open(RESERVE_PREFIX + name, os.O_WRONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0),
                                    dir_fd=fd)
                    except OSError:
                        f = None
                if f is None:
                    write_file_atomic(name, data, dir_fd=fd)
                    continue
                try:
                    os.pwrite(f, data, 0)
                    os.ftruncate(f, len(data))
                finally:
                    os.close(f)
                os.replace(RESERVE_PREFIX + name, name, src_dir_fd=fd, dst_dir_fd=fd)
            if drop:
                for name in values:
                    try:
                        os.unlink(RESERVE_PREFIX + name, dir_fd=fd)
                    except FileNotFoundError:
                        pass
        finally:
            os.close(fd)

    def drop_reserved(self, names: tuple[str, ...]) -> None:
        """Remove what :meth:`reserve_attrs` set aside and was not used."""
        for name in names:
            self.del_attr(RESERVE_PREFIX + name)

    def del_attr(self, name: str) -> None:
        try:
            os.remove(self.attr_path(name))
        except FileNotFoundError:
            pass

    def attr_names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.guild_path("attrs")) if not n.startswith("."))
        except FileNotFoundError:
            return []

    # -------------------------------------------------------------- sentinels

    def has(self, name: str) -> bool:
        if self._sentinels is not None and name in SENTINELS:
            return name in self._sentinels
        return os.path.exists(self.guild_path(name))

    @property
    def is_batch(self) -> bool:
        """Whether this is a batch run (it holds a prototype in ``.guild/proto``)."""
        if self._sentinels is not None:
            return BATCH_MARKER in self._sentinels
        return os.path.isdir(self.guild_path(BATCH_MARKER))

    def touch(self, name: str) -> None:
        """Create sentinel ``name`` in ``.guild`` if missing (a link there is replaced, never followed)."""
        fd = self.open_dir(".guild")
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                os.close(create_replacing(name, fd))
        except FileNotFoundError:
            os.close(create_replacing(name, fd))
        finally:
            os.close(fd)

    def mark_pending(self) -> None:
        """Write ``PENDING`` naming this process, so a crash before start reads ``error``."""
        self.write_file(".guild/PENDING", process_marker(os.getpid()))

    def remove(self, name: str) -> None:
        try:
            os.remove(self.guild_path(name))
        except FileNotFoundError:
            pass

    # ----------------------------------------------------------------- status

    @property
    def remote(self) -> str | None:
        """The remote a pulled run is running on (content of ``LOCK.remote``)."""
        if self._sentinels is not None:
            return self._remote if "LOCK.remote" in self._sentinels else None
        exists, data = read_beneath(self.path, ".guild/LOCK.remote", 4096)
        if not exists:
            return None
        name = remote_name(data)
        if name == "?":
            report_damage(self.id, ".guild/LOCK.remote", UNREADABLE if data is None else NOT_UTF8)
        return name

    def _read_marker(self, name: str) -> bytes | None:
        exists, data = read_beneath(self.path, ".guild/" + name, 4096)
        if exists and data is None:
            report_damage(self.id, ".guild/" + name, UNREADABLE)
        return (data or b"") if exists else None

    def lock_pid(self) -> int | None:
        """The pid recorded in ``.guild/LOCK`` (read as Guild reads it), or None."""
        raw = self._read_marker("LOCK")
        return None if raw is None else marker_pid(raw)

    def lock_alive(self) -> bool:
        """Whether ``.guild/LOCK`` names a live process (that has not been replaced)."""
        raw = self._read_marker("LOCK")
        return raw is not None and marker_alive(raw)

    def _pending_abandoned(self) -> bool:
        """Whether ``PENDING`` names a process that has gone (an empty one never has)."""
        raw = self._read_marker("PENDING")
        if not raw or marker_pid(raw) is None or len(raw[10:].split()) < 2:
            return False
        return not marker_alive(raw)

    @property
    def starting(self) -> bool:
        """Whether a live process is creating or starting this run (``PENDING`` names it)."""
        raw = self._read_marker("PENDING")
        if not raw or marker_pid(raw) is None or len(raw[10:].split()) < 2:
            return False
        return marker_alive(raw)

    @property
    def status(self) -> Status:
        """Guild's status inference: LOCK.remote > PENDING > STAGED > exit_status > live LOCK pid > error."""
        if self.has("LOCK.remote"):
            return Status.RUNNING
        if self.has("PENDING"):
            # A PENDING we wrote names its creator; a creator that died
            # (killed before the run started) leaves an ``error`` run.
            return Status.ERROR if self._pending_abandoned() else Status.PENDING
        if self.has("STAGED"):
            return Status.STAGED
        exit_status = self.get("exit_status")
        if isinstance(exit_status, int) and not isinstance(exit_status, bool):
            return status_of_exit(exit_status)
        if self._sentinels is not None and "LOCK" not in self._sentinels:
            return Status.ERROR
        if self.lock_alive():
            return Status.RUNNING
        return Status.ERROR

    @property
    def status_with_remote(self) -> str:
        status = self.status
        remote = self.remote
        return "%s (%s)" % (status, remote) if remote else status

    @property
    def timestamp(self) -> int:
        """Sort key: ``started``, else ``initialized``, else 0."""
        for name in ("started", "initialized"):
            val = self.get(name)
            if isinstance(val, int):
                return val
        return 0

    @property
    def label(self) -> str:
        val = self.get("label")
        return "" if val is None else str(val)

    @property
    def flags(self) -> dict:
        val = self.get("flags")
        return val if isinstance(val, dict) else {}
