"""Sequence flag functions: ``range[a:b:step]``, ``linspace[a:b:n]``, ``logspace[a:b:n:base]`` expanded to lists."""

from __future__ import annotations

import math
import re

from luigi_guild.model.errors import GuildError


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        val = float(text)
    except ValueError:
        return None
    return val if math.isfinite(val) else None


class SequenceError(GuildError):
    """A sequence function (``range``, ``linspace``, ``logspace``) with arguments it cannot expand."""

    def __init__(self, text: str, reason: str):
        super().__init__("invalid function args in '%s': %s" % (text, reason))
        self.reason = reason


_SEQUENCE_RE = re.compile(r"^\s*(range|linspace|logspace)\[([^][]*)\]\s*$")


def _seq_number(text: str, whole: str) -> int | float:
    num = _number(text.strip())
    if num is None or isinstance(num, bool):
        raise SequenceError(whole, "invalid arg '%s': expected a number" % text.strip())
    return num


def _seq_val(x: float, ints: bool) -> int | float:
    return int(round(x)) if ints else round(float(x), 8)


def expand(s: str) -> list | None:
    """The list a sequence function stands for, or None when ``s`` is not one.

    ``range[start:end:step=1]`` includes ``end`` (``range[1:4]`` is 1, 2, 3, 4);
    ``linspace[start:end:count=5]`` and ``logspace[start:end:count=5:base=10]``
    give evenly spaced numbers (``logspace``: powers of ``base``).
    Floats are rounded to 8 places. Sequences expand when a
    flag value is read, so they make grid trials.
    """
    m = _SEQUENCE_RE.match(s)
    if not m:
        return None
    name, whole = m.group(1), s.strip()
    args = [_seq_number(a, whole) for a in m.group(2).split(":")] if m.group(2).strip() else []
    if len(args) < 2:
        raise SequenceError(whole, "%s requires a start and an end (%s[START:END...])" % (name, name))
    if name == "range":
        if len(args) > 3:
            raise SequenceError(whole, "range takes at most 3 args (start, end, step)")
        start, end, step = (args + [1])[:3]
        if step <= 0:
            raise SequenceError(whole, "the step %s has to be greater than 0" % step)
        ints = all(isinstance(a, int) for a in (start, end, step))
        stop = end + min(step, 1)
        count = max(0, math.ceil((stop - start) / step))
        vals = [_seq_val(start + i * step, ints) for i in range(count)]
    else:
        limit = 3 if name == "linspace" else 4
        if len(args) > limit:
            raise SequenceError(whole, "%s takes at most %d args" % (name, limit))
        start, end = args[0], args[1]
        points_n = args[2] if len(args) > 2 else 5
        if not isinstance(points_n, int) or points_n < 1:
            raise SequenceError(whole, "the count %s has to be a whole number greater than 0" % points_n)
        points = [start + (end - start) * (i / (points_n - 1) if points_n > 1 else 0) for i in range(points_n)]
        if name == "logspace":
            base = args[3] if len(args) > 3 else 10
            try:
                points = [math.pow(base, p) for p in points]
            except (ValueError, OverflowError) as e:
                raise SequenceError(whole, str(e)) from None
        vals = [_seq_val(p, False) for p in points]
    if not vals:
        raise SequenceError(whole, "the sequence is empty (the end is before the start)")
    return vals
