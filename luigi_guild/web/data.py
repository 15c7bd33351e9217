"""What the view shows, as plain data: which runs, each run's row and page, its output, its files.

Nothing here imports a web library, and nothing here writes to a run: the
view is read-only. Every reader survives a broken run (missing or corrupt
attrs, unreadable files) by showing less, never by failing the request.
"""

from __future__ import annotations

import math
import mimetypes
import os
import stat
import time
from dataclasses import dataclass, field
from typing import IO, Any

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError
from luigi_guild.model.status import Status
from luigi_guild.model.table import format_timestamp
from luigi_guild.store import files as runfiles
from luigi_guild.store import query as runstore
from luigi_guild.store.filters import RunFilter
from luigi_guild.store.rundir import Run
from luigi_guild.web import scalars as runscalars

# Attrs the run page shows under its own headings, not among the attributes.
_OWN_SECTIONS = {"flags", "deps", "env", "user_flags", "run_params"}
IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}
OUTPUT_CHUNK = 256 * 1024
MAX_FILES = 5000  # a run page lists at most this many files


@dataclass
class RunSource:
    """The runs a view shows: all runs passing ``run_filter``, or the ones ``run_ids`` names.

    Asked again on every request, so runs that start (or change) later show up.
    Batch runs are left out unless ``include_batch``. With ``deleted``, the
    runs are those in the trash (batch runs included, as Guild lists them).
    """

    run_filter: RunFilter = field(default_factory=RunFilter)
    run_ids: list[str] | None = None
    include_batch: bool = False
    deleted: bool = False

    @classmethod
    def for_args(
        cls, specs: list[str], run_filter: RunFilter, include_batch: bool, cmd: str = "view", deleted: bool = False
    ) -> "RunSource":
        """A source for ``guild view [RUN...]`` (or ``cmd``): RUN specs are resolved now (bad specs are errors)."""
        source = cls(run_filter, None, include_batch or deleted, deleted)
        if specs and specs != [":"]:
            source.run_ids = [r.id for r in runstore.select(source.runs(), specs, cmd)]
        return source

    def runs(self) -> list[Run]:
        runs = runstore.filtered_runs(self.run_filter, deleted=self.deleted)
        if not self.include_batch:
            runs = [r for r in runs if not is_batch(r)]
        if self.run_ids is not None:
            wanted = set(self.run_ids)
            runs = [r for r in runs if r.id in wanted]
        return runs

    def find(self, run_id: str) -> Run | None:
        """The run with full id ``run_id`` in Guild home (any run, as Guild's view allows), or None.

        With ``deleted``, runs are looked for in the trash.
        """
        if not run_id or run_id.startswith(".") or "/" in run_id or "\\" in run_id or "\0" in run_id:
            return None
        path = os.path.join(home.trash_runs_dir() if self.deleted else home.runs_dir(), run_id)
        if not os.path.isfile(os.path.join(path, ".guild", "opref")):
            return None
        return Run(run_id, path)


def is_batch(run: Run) -> bool:
    """Whether ``run`` is a batch run (it has a ``.guild/proto`` prototype), as Guild decides it."""
    return os.path.isdir(run.guild_path("proto"))


# ------------------------------------------------------------------ rows


def run_row(run: Run, scalars: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """One run: the ``guild compare`` core columns, flags and last scalars (``scalars``, when already read)."""
    if scalars is None:
        scalars = runscalars.last_values([run])[run.id]
    started = _int_attr(run, "started")
    stopped = _int_attr(run, "stopped")
    status = _safe(lambda: str(run.status_with_remote), "error")
    tags = run.get("tags")
    return {
        "id": run.id,
        "shortId": run.short_id,
        "operation": _safe(lambda: run.op_name, "?"),
        "started": format_timestamp(started),
        "startedTs": started,
        "time": format_duration(started, stopped, running=status.startswith(Status.RUNNING)),
        "status": status,
        "label": _safe(lambda: run.label, ""),
        "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
        "marked": bool(run.get("marked")),
        "flags": json_safe(_safe(lambda: dict(run.flags), {})),
        "scalars": json_safe(scalars),
    }


def table_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """The runs table: :func:`run_row` per run, without system scalars (``sys/...``), as ``guild compare``."""
    scalars = runscalars.last_values(runs)
    rows = []
    for run in runs:
        shown = {k: v for k, v in scalars.get(run.id, {}).items() if not k.split("#")[-1].startswith("sys/")}
        rows.append(run_row(run, shown))
    return rows


def format_duration(started: int | None, stopped: int | None, running: bool = False) -> str:
    """``H:MM:SS`` from start to stop (to now while running), '' when unknown."""
    if started is None:
        return ""
    end = stopped if stopped is not None else (int(time.time() * 1_000_000) if running else None)
    if end is None or end < started:
        return ""
    secs = (end - started) // 1_000_000
    return "%d:%02d:%02d" % (secs // 3600, secs % 3600 // 60, secs % 60)


def _int_attr(run: Run, name: str) -> int | None:
    val = run.get(name)
    return val if isinstance(val, int) and not isinstance(val, bool) else None


# ------------------------------------------------------------------ run page


def run_detail(run: Run) -> dict[str, Any]:
    """Everything the run page shows: the row, attributes, dependencies, files."""
    row = run_row(run)
    attrs: dict[str, Any] = {}
    for name in run.attr_names():
        if name in _OWN_SECTIONS:
            continue
        val = run.get(name)
        if name in ("started", "stopped", "initialized") and isinstance(val, int):
            val = format_timestamp(val)
        attrs[name] = val
    row.update(
        {
            "dir": run.path,
            "attributes": json_safe(attrs),
            "deps": json_safe(_deps(run)),
            "files": list_files(run),
            "scalarsDetail": row["scalars"],
        }
    )
    return row


def _deps(run: Run) -> list[dict[str, Any]]:
    """The ``deps`` attr as ``[{name, run, paths}]`` (this project's shape and Guild's nested one)."""
    deps = run.get("deps")
    out: list[dict[str, Any]] = []

    def visit(name: str, val: Any) -> None:
        if not isinstance(val, dict):
            return
        upstream = val.get("run", val.get("config"))
        if isinstance(upstream, str):
            paths = val.get("paths")
            out.append({"name": name, "run": upstream, "paths": [str(p) for p in paths] if isinstance(paths, list) else []})
            return
        for sub_name, sub in val.items():
            visit(str(sub_name), sub)

    if isinstance(deps, dict):
        for name, val in deps.items():
            visit(str(name), val)
    return out


def list_files(run: Run) -> list[dict[str, Any]]:
    """The run's files (not ``.guild``, at most :data:`MAX_FILES`): path, size, mtime (ms), how the page shows them."""
    out: list[dict[str, Any]] = []
    try:
        paths = runfiles.list_files(run)
    except (OSError, GuildError):
        return []
    for rel in paths:
        if len(out) >= MAX_FILES:
            break
        if rel.endswith("/"):
            continue
        path = os.path.join(run.path, rel)
        try:
            st = os.stat(path)
        except OSError:
            continue  # a dangling link, or the file went away
        if os.path.islink(path) and not _allowed(run, os.path.realpath(path)):
            continue  # a link out of the runs: not listed, and refused if asked for
        out.append({"path": rel, "size": st.st_size, "mtime": int(st.st_mtime * 1000), "kind": file_kind(rel)})
    return out


def file_kind(rel: str) -> str:
    """``image`` by name; otherwise ``file`` (the page asks the server whether it is text)."""
    return "image" if os.path.splitext(rel)[1].lower() in IMAGE_TYPES else "file"


# ------------------------------------------------------------------ output


def read_output(run: Run, offset: int = 0) -> dict[str, Any]:
    """The run's output from byte ``offset``: ``{"text", "offset"}`` where ``offset`` is where to ask next.

    At most :data:`OUTPUT_CHUNK` bytes per call, cut after the last complete
    line when more may follow, so a line is never split between calls.
    """
    offset = max(0, offset)
    try:
        with open(run.guild_path("output"), "rb") as f:
            f.seek(offset)
            data = f.read(OUTPUT_CHUNK)
            more = bool(f.read(1))
    except OSError:
        return {"text": "", "offset": offset, "more": False}
    if data and not data.endswith(b"\n"):
        nl = data.rfind(b"\n")
        # A line longer than a chunk goes in pieces; so does a last line that will not grow.
        if nl >= 0 and (more or _safe(lambda: run.status == Status.RUNNING, False)):
            data = data[: nl + 1]
    return {"text": data.decode("utf-8", "replace"), "offset": offset + len(data), "more": more}


# ------------------------------------------------------------------ files


class FileRefused(Exception):
    """A requested path that leaves the run's directory, or is not a regular file."""


class FileMissing(Exception):
    """A requested path that names no file."""


def open_run_file(run: Run, rel: str) -> tuple[IO[bytes], int, str]:
    """Open ``rel`` inside ``run``'s directory: ``(file, size, media type)``.

    Refused (:class:`FileRefused`): absolute paths, any ``..`` part, and
    anything whose opened file (as the kernel resolved it, symlinks included)
    is not a regular file inside the run directory or in Guild home's runs
    (where a run's upstream links point). The check is made on the opened
    file, so a link swapped after the check cannot point it elsewhere.
    """
    parts = rel.replace("\\", "/").split("/")
    if not rel or rel.startswith(("/", "~")) or ".." in parts or "\0" in rel:
        raise FileRefused(rel)
    path = os.path.join(run.path, *[p for p in parts if p not in ("", ".")])
    try:
        # Non-blocking: a FIFO planted in a run must not hang the server (it is refused below).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        raise FileMissing("no file %s" % rel) from None
    except OSError:
        raise FileRefused(rel) from None
    try:
        st = os.fstat(fd)
        real = os.readlink("/proc/self/fd/%d" % fd) if os.path.isdir("/proc/self/fd") else os.path.realpath(path)
        if not stat.S_ISREG(st.st_mode) or not _allowed(run, real):
            raise FileRefused(rel)
        f = os.fdopen(fd, "rb")
    except BaseException as e:
        os.close(fd)
        if isinstance(e, OSError):
            raise FileRefused(rel) from None
        raise
    media = mimetypes.guess_type(rel)[0] or "application/octet-stream"
    return f, st.st_size, media


def _allowed(run: Run, real: str) -> bool:
    """Whether the resolved path ``real`` is inside the run directory or Guild home's runs."""
    roots = [os.path.realpath(run.path), os.path.realpath(home.runs_dir())]
    return any(real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def is_text(head: bytes) -> bool:
    """Whether a file starting with ``head`` reads as text (UTF-8, no NUL bytes)."""
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 3  # a character cut by the end of ``head``
    return True


# ------------------------------------------------------------------ helpers


def json_safe(val: Any) -> Any:
    """``val`` with only JSON types: NaN and infinities as the strings Guild's view uses, others as text."""
    if isinstance(val, float):
        if math.isnan(val):
            return "NaN"
        if math.isinf(val):
            return "Infinity" if val > 0 else "-Infinity"
        return val
    if val is None or isinstance(val, (bool, int, str)):
        return val
    if isinstance(val, dict):
        return {str(k): json_safe(v) for k, v in val.items()}
    if isinstance(val, (list, tuple)):
        return [json_safe(v) for v in val]
    return str(val)


def _safe(fn: Any, default: Any) -> Any:
    """``fn()``, or ``default`` when the run's files are broken."""
    try:
        return fn()
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return default
