"""Time ranges for ``-Fs/--started``: 'today', 'last 2 hours', 'after 7-1 9:00', 'between A and B'.

:func:`parse` turns a RANGE written in Guild's syntax into a function of the
reference time (now, local) that gives ``(start, end)``; either end may be
None (open). ``start`` is inclusive, ``end`` exclusive. A RANGE that does not
parse raises :class:`RangeError` with Guild's wording.

The grammar, as Guild reads it::

    spec      := unit_range | op_range | LAST [NUMBER] (MINUTE|HOUR|DAY)
               | BETWEEN range AND range | datetime
    unit_range:= TODAY | YESTERDAY | THIS unit | NUMBER unit AGO
    op_range  := (BEFORE|AFTER) (unit_range | datetime)
    range     := unit_range | op_range | datetime
    datetime  := date [time] | time       (date: M-D, YY-M-D, YYYY-M-D; time: H:MM[:SS])
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Callable, Optional, Tuple

Bounds = Tuple[Optional[datetime], Optional[datetime]]
RangeFn = Callable[[datetime], Bounds]

_WORDS = {"today", "yesterday", "this", "last", "ago", "before", "after", "between", "and"}

# Tried in this order at each position; the first alternative that matches wins.
_TOKENS = [
    ("LONGDATE", r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"),
    ("MEDIUMDATE", r"([0-9]{2})-([0-9]{1,2})-([0-9]{1,2})"),
    ("SHORTDATE", r"([0-9]{1,2})-([0-9]{1,2})"),
    ("LONGTIME", r"([0-9]{1,2}):([0-9]{2}):([0-9]{2})"),
    ("SHORTTIME", r"([0-9]{1,2}):([0-9]{2})"),
    ("DAY", r"days?"),
    ("WEEK", r"weeks?"),
    ("MONTH", r"months?"),
    ("YEAR", r"years?"),
    ("NUMBER", r"[0-9]+"),
    ("HOUR", r"hours?|hr"),
    ("MINUTE", r"minutes?|min"),
    ("WORD", r"[a-zA-Z]+"),
]
_TOKEN_RE = re.compile("|".join("(?P<%s>%s)" % (n, p) for n, p in _TOKENS), re.IGNORECASE)
_INT_RE = re.compile(r"[0-9]+")
_UNITS = ("MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR")
_DATES = ("SHORTDATE", "MEDIUMDATE", "LONGDATE")
_TIMES = ("SHORTTIME", "LONGTIME")


class RangeError(ValueError):
    """A RANGE that does not parse; the message is Guild's."""


class _Tok:
    def __init__(self, kind: str, text: str, pos: int, error: str = ""):
        self.kind, self.text, self.pos, self.error = kind, text, pos, error

    def ints(self) -> tuple[int, ...]:
        return tuple(int(n) for n in _INT_RE.findall(self.text))


def _tokens(spec: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(spec):
        if spec[pos] in " \t\n":
            pos += 1
            continue
        m = _TOKEN_RE.match(spec, pos)
        if m is None or m.lastgroup is None:
            # A character no token starts with: Guild reports the rest of the RANGE.
            out.append(_Tok("ERROR", spec[pos:], pos, "unexpected '%s' at position %i" % (spec[pos:], pos)))
            return out
        kind, text = m.lastgroup, m.group(0)
        if kind == "WORD":
            if text.lower() not in _WORDS:
                out.append(_Tok("ERROR", text, pos, "unexpected '%s' at position %i" % (text, pos)))
                return out
            kind = text.upper()
        out.append(_Tok(kind, text, pos))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, spec: str):
        self.toks = _tokens(spec)
        self.i = 0

    def peek(self) -> _Tok | None:
        tok = self.toks[self.i] if self.i < len(self.toks) else None
        if tok is not None and tok.kind == "ERROR":
            raise RangeError(tok.error)
        return tok

    def take(self, *kinds: str) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise RangeError("spec cannot be empty")
        if tok.kind not in kinds:
            raise RangeError("unexpected '%s' at pos %i" % (tok.text, tok.pos))
        self.i += 1
        return tok

    def at(self, *kinds: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind in kinds

    def spec(self) -> RangeFn:
        if self.at("LAST"):
            self.take("LAST")
            n = int(self.take("NUMBER").text) if self.at("NUMBER") else 1
            unit = self.take("MINUTE", "HOUR", "DAY").kind
            delta = timedelta(**{unit.lower() + "s": n})
            fn: RangeFn = lambda ref: (ref - delta, None)
        elif self.at("BETWEEN"):
            self.take("BETWEEN")
            first = self.range()
            self.take("AND")
            second = self.range()
            fn = lambda ref: _between(first(ref), second(ref))
        elif self.at(*(_DATES + _TIMES)):
            when, kind = self.datetime()
            fn = lambda ref: _around(when(ref), kind)
        else:
            fn = self.range()
        if self.i < len(self.toks):
            self.take()  # what follows a whole RANGE is unexpected
        return fn

    def range(self) -> RangeFn:
        if self.at("BEFORE", "AFTER"):
            before = self.take("BEFORE", "AFTER").kind == "BEFORE"
            if self.at(*(_DATES + _TIMES)):
                when = self.datetime()[0]
                return (lambda ref: (None, when(ref))) if before else (lambda ref: (when(ref), None))
            unit = self.unit_range()
            return (lambda ref: (None, unit(ref)[0])) if before else (lambda ref: (unit(ref)[1], None))
        if self.at(*(_DATES + _TIMES)):
            when = self.datetime()[0]
            return lambda ref: (when(ref), when(ref))
        return self.unit_range()

    def unit_range(self) -> RangeFn:
        tok = self.take("TODAY", "YESTERDAY", "THIS", "NUMBER")
        if tok.kind == "TODAY":
            return lambda ref: _unit_range(ref, "DAY", 0)
        if tok.kind == "YESTERDAY":
            return lambda ref: _unit_range(ref, "DAY", -1)
        if tok.kind == "THIS":
            unit = self.take(*_UNITS).kind
            return lambda ref: _unit_range(ref, unit, 0)
        n = int(tok.text)
        unit = self.take(*_UNITS).kind
        self.take("AGO")
        return lambda ref: _unit_range(ref, unit, -n)

    def datetime(self) -> tuple[Callable[[datetime], datetime], str]:
        """A function of the reference time giving the datetime, and how precise it is (day/second/minute)."""
        tok = self.take(*(_DATES + _TIMES))
        if tok.kind in _TIMES:
            parts = tok.ints()
            return (lambda ref: _at(ref.date(), parts)), ("second" if len(parts) == 3 else "minute")
        day = _date_fn(tok)
        if self.at(*_TIMES):
            parts = self.take(*_TIMES).ints()
            return (lambda ref: _at(day(ref), parts)), ("second" if len(parts) == 3 else "minute")
        return (lambda ref: _at(day(ref), ())), "day"


def _date_fn(tok: _Tok) -> Callable[[datetime], date]:
    vals = tok.ints()
    if tok.kind == "LONGDATE":
        return lambda ref: date(*vals)
    if tok.kind == "MEDIUMDATE":
        return lambda ref: date(ref.year // 100 * 100 + vals[0], vals[1], vals[2])
    return lambda ref: date(ref.year, vals[0], vals[1])


def _at(day: date, parts: tuple[int, ...]) -> datetime:
    hour, minute, second = (tuple(parts) + (0, 0, 0))[:3]
    return datetime(day.year, day.month, day.day, hour, minute, second)


def _around(when: datetime, precision: str) -> Bounds:
    """A bare DATETIME: the day, minute or second it names."""
    step = {"day": timedelta(days=1), "minute": timedelta(minutes=1), "second": timedelta(seconds=1)}[precision]
    return when, when + step


def _between(a: Bounds, b: Bounds) -> Bounds:
    if a[0] is not None and b[0] is not None and a[0] < b[0]:
        return a[0], b[1]
    return b[0], a[1]


def _unit_range(ref: datetime, unit: str, shift: int) -> Bounds:
    """The minute/hour/day/week/month/year holding ``ref``, moved ``shift`` units (<= 0)."""
    if unit in ("MINUTE", "HOUR", "DAY"):
        if unit == "MINUTE":
            start, step = ref.replace(second=0, microsecond=0), timedelta(minutes=1)
        elif unit == "HOUR":
            start, step = ref.replace(minute=0, second=0, microsecond=0), timedelta(hours=1)
        else:
            start, step = ref.replace(hour=0, minute=0, second=0, microsecond=0), timedelta(days=1)
        return start + step * shift, start + step * (shift + 1)
    day = ref.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "WEEK":  # weeks start on Monday
        start = day - timedelta(days=day.weekday()) + timedelta(days=7 * shift)
        return start, start + timedelta(days=7)
    if unit == "MONTH":
        start = day.replace(day=1)
        for _ in range(-shift):
            start = (start - timedelta(days=1)).replace(day=1)
        # As Guild computes it, a month's range ends at the start of its last day.
        after = start.replace(day=28) + timedelta(days=4)
        return start, after - timedelta(days=after.day)
    start = day.replace(year=day.year + shift, month=1, day=1)
    return start, start.replace(year=start.year + 1)


def parse(spec: str) -> RangeFn:
    """The range function for ``spec``; raises :class:`RangeError` when it does not parse."""
    try:
        return _Parser(spec).spec()
    except (TypeError, OverflowError) as e:  # pragma: no cover - defensive
        raise RangeError(str(e)) from e


def bounds(spec: str, now: datetime | None = None) -> Bounds:
    """``(start, end)`` of ``spec`` relative to ``now`` (default: the local time now)."""
    try:
        return parse(spec)(now or datetime.now())
    except ValueError as e:  # a date that does not exist, e.g. 2-30
        if isinstance(e, RangeError):
            raise
        raise RangeError(str(e)) from e


def contains(start: datetime | None, end: datetime | None, timestamp_us: int) -> bool:
    """Whether a run timestamp (microseconds since the epoch) is in ``[start, end)``; 0 is never."""
    if not timestamp_us:
        return False
    when = datetime.fromtimestamp(timestamp_us // 1000000)
    return (start is None or when >= start) and (end is None or when < end)
