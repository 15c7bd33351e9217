"""Output-scalar capture: the operation's output lines go through the matcher into an event file.

Runs in the ``guild run`` process, which owns the child's pipes (as in
Guild): the child imports nothing for it. The event file is created in
``.guild/`` on the first scalar found, so a run that prints none has none.
"""

from __future__ import annotations

import os
import struct
import sys
from typing import Any, Iterable

from luigi_guild.model.outputscalars import MAX_LINE_CHARS, Matcher
from luigi_guild.store.eventfiles import EVENTS_MARK, EventWriter, guild_style_name

_F32 = struct.Struct("<f")


def _warn(msg: str) -> None:
    sys.stderr.write("WARNING: %s\n" % msg)


class ScalarCapture:
    """Splits output chunks into lines per stream and writes the scalars they hold."""

    def __init__(self, guild_dir: str, config: Any = None, ignore: Iterable[str] = (), name: str | None = None,
                 note: bool = False):
        self.matcher = Matcher(config, ignore, warn=_warn)
        self.writer = EventWriter(guild_dir, name)
        self._partial: dict[int, bytes] = {}
        self._overlong: set[int] = set()
        self.error: OSError | None = None
        # With ``note``: the events as written, for :func:`luigi_guild.store.scalars.note_written`
        # at close (None once there are too many, or one could not be kept as the file holds it).
        self._written: list[tuple[str, float, int]] | None = [] if note else None

    def feed(self, data: bytes, stream: int) -> None:
        buf = self._partial.get(stream, b"") + data
        lines = buf.split(b"\n")
        rest = lines.pop()
        if stream in self._overlong:  # the first line's head was dropped: it is too long to search
            if not lines:
                return
            self._overlong.discard(stream)
            lines.pop(0)
        if len(rest) > MAX_LINE_CHARS * 4:  # bytes; never searched, so not kept
            self._overlong.add(stream)
            rest = b""
        self._partial[stream] = rest
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        if self.error is not None:
            return
        try:
            for key, val, step in self.matcher.feed(line):
                self.writer.add_scalar(key, val, step)
                if self._written is not None:
                    self._keep(key, val, step)
        except OSError as e:  # disk full: stop capturing, not the run
            self.error = e

    def _keep(self, key: str, val: float, step: int) -> None:
        assert self._written is not None
        from luigi_guild.store.scalars import NOTE_MAX_EVENTS

        try:  # the value as the event file holds it (a 32-bit float)
            held = _F32.unpack(_F32.pack(val))[0]
        except (OverflowError, TypeError, ValueError):
            self._written = None
            return
        if len(self._written) >= NOTE_MAX_EVENTS:
            self._written = None
            return
        self._written.append((key, held, int(step)))

    def close(self) -> None:
        for stream in sorted(self._partial):
            rest = self._partial[stream]
            if rest:
                self._line(rest)
        self._partial = {}
        closed = True
        try:
            self.writer.close()
        except OSError:
            closed = False
        if self._written is not None and closed and self.error is None:
            from luigi_guild.store.scalars import note_written

            note_written(os.path.dirname(self.writer.logdir), self.writer.path, self._written)
        self._written = None


def for_plan(guild_dir: str, op_attr: dict, flags: dict, note: bool = False) -> ScalarCapture | None:
    """The capture a run's ``op`` attr asks for (``output-scalars: no`` turns it off). With ``note``
    what it wrote is remembered in this process (see :func:`luigi_guild.store.scalars.note_written`)."""
    config = op_attr.get("output-scalars") if isinstance(op_attr, dict) else None
    if config is False:
        return None
    return ScalarCapture(guild_dir, config, ignore=flags, note=note)


def capture_output_file(guild_dir: str) -> None:
    """The scalars of the whole ``output`` in ``guild_dir``, written as that run's own event file.

    For a batch run, whose output is its trials' output and log lines: as in
    Guild, the batch captures them with the default patterns like any run
    (a ``step: N`` line sets the step of what follows, across trials). The
    file replaces any event file directly in ``guild_dir`` (the batch's
    scalars as of an earlier finish, or a guildai batch's before a restart),
    so it is derived afresh from the whole output each time; it appears under
    its final name only when complete. Errors leave the scalars as they were.
    """
    tmp = ".output-scalars.tmp-%d" % os.getpid()
    cap = ScalarCapture(guild_dir, None, name=tmp)
    try:
        fd = os.open(os.path.join(guild_dir, "output"), os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    try:
        with os.fdopen(fd, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                cap.feed(chunk, 1)
    except OSError:
        cap.error = cap.error or OSError("output unreadable")
    cap.close()
    written = cap.writer.path
    if cap.error is not None:
        if written:
            _remove(written)
        return
    try:
        old = [n for n in os.listdir(guild_dir) if EVENTS_MARK in n]
    except OSError:
        old = []
    # The old file goes first: for a moment the batch shows no scalars, never some twice.
    for name in old:
        _remove(os.path.join(guild_dir, name))
    if written:
        try:
            os.rename(written, os.path.join(guild_dir, guild_style_name()))
        except OSError:
            _remove(written)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
