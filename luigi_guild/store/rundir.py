"""One run directory in Guild's layout: attributes, sentinels and status.

The files are the truth. Nothing here caches a status: it is inferred from
the files every time it is asked for.
"""

from __future__ import annotations

import os
import time

from luigi_guild.model.atomic import write_file_atomic
from luigi_guild.model.opref import OpRef
from luigi_guild.model.status import Status, status_of_exit

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Any

# Attrs a preloaded run answers from memory (the ones listings and --needed use).
_PRELOADED_ATTRS = frozenset(("started", "initialized", "label", "exit_status", "flags"))

_MISSING = object()


def _is_plain_int(s: str) -> bool:
    """Whether ``s`` is a decimal integer YAML reads as that same int (no leading zeros)."""
    digits = s[1:] if s[:1] == "-" else s
    return digits.isascii() and digits.isdigit() and (digits[0] != "0" or digits == "0")


def decode_attr(text: str, default: Any = None) -> Any:
    """An attr file's text decoded (YAML; plain integers without loading YAML), or ``default``."""
    if _is_plain_int(text.strip()):
        return int(text)
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
    return "%-10d\n%d %s\n" % (pid, start, boot_id())


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


# Sentinel files whose presence the status rules look at.
SENTINELS = ("LOCK.remote", "PENDING", "STAGED", "LOCK")


class Run:
    """A run directory: ``<path>/.guild/`` holds its metadata.

    A run made by :meth:`preloaded` answers ``get``/``has``/``opref`` from
    values read moments ago (by the run index, after checking their stamps)
    instead of the files: use such runs for one listing, then drop them.
    ``LOCK``'s pid is always read and checked live.
    """

    __slots__ = ("id", "path", "_opref", "_attrs", "_sentinels", "_remote")

    def __init__(self, run_id: str, path: str):
        self.id = run_id
        self.path = path
        self._opref: OpRef | None = None
        self._attrs: dict[str, Any] | None = None
        self._sentinels: frozenset[str] | None = None
        self._remote: str | None = None

    @classmethod
    def preloaded(
        cls,
        run_id: str,
        path: str,
        opref: OpRef | None,
        attrs: dict[str, Any],
        sentinels: frozenset[str],
        remote: str | None = None,
    ) -> "Run":
        """A run whose ``attrs`` (missing ones absent), sentinels and opref are already known."""
        run = cls(run_id, path)
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
            with open(self.guild_path("opref")) as f:
                self._opref = OpRef.parse(f.read())
        return self._opref

    def write_opref(self, opref: OpRef) -> None:
        write_file_atomic(self.guild_path("opref"), opref.encode())
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
                with open(self.guild_path("proto", ".guild", "opref")) as f:
                    proto = OpRef.parse(f.read()).display
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
        try:
            with open(self.attr_path(name), encoding="utf-8") as f:
                text = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return default
        return decode_attr(text, default)

    def read_raw_attr(self, name: str) -> str | None:
        """The attr file's text, or None when missing."""
        try:
            with open(self.attr_path(name), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write_attr(self, name: str, value: Any) -> None:
        """Write attr ``name`` atomically as a YAML document."""
        from luigi_guild.model import yamlutil

        write_file_atomic(self.attr_path(name), yamlutil.encode(value) + "\n")

    def del_attr(self, name: str) -> None:
        try:
            os.remove(self.attr_path(name))
        except FileNotFoundError:
            pass

    def attr_names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.guild_path("attrs")) if not n.startswith(".tmp-"))
        except FileNotFoundError:
            return []

    # -------------------------------------------------------------- sentinels

    def has(self, name: str) -> bool:
        if self._sentinels is not None and name in SENTINELS:
            return name in self._sentinels
        return os.path.exists(self.guild_path(name))

    def touch(self, name: str) -> None:
        with open(self.guild_path(name), "a"):
            pass

    def mark_pending(self) -> None:
        """Write ``PENDING`` naming this process, so a crash before start reads ``error``."""
        write_file_atomic(self.guild_path("PENDING"), process_marker(os.getpid()))

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
        try:
            with open(self.guild_path("LOCK.remote")) as f:
                text = f.read().strip()
        except FileNotFoundError:
            return None
        return text.split(":", 1)[0] or None

    def _read_marker(self, name: str) -> bytes | None:
        try:
            with open(self.guild_path(name), "rb") as f:
                return f.read(128)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError:
            return b""

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
