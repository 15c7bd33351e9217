"""Column specs (``loss``, ``min loss step``, ``=flag``, ``.attr``, ``as NAME``): Guild's grammar as data.

Shared by ``compare -c/-cc``, ``select --min/--max``, guild.yml ``compare:``
and optimizer objectives. :func:`parse` raises :class:`ColSpecError` with
Guild's message (``unexpected token 'bar', line 1, pos 11``; positions count
the ``select`` prefix Guild's parser puts before the text).
"""

from __future__ import annotations

import re

QUALIFIERS = ("first", "last", "min", "max", "avg", "total", "count")
STEP_QUALIFIERS = ("first", "last", "min", "max")
_RESERVED = frozenset(("select",) + QUALIFIERS + ("step", "as"))
_OFFSET = len("select ")
_TOKEN_RE = re.compile(r"""\s*(?:(?P<comma>,)|(?P<quoted>'[^'\n]*'|"[^"\n]*")|(?P<term>[^'",\n\s][^ ,\n\t]*))""")


class ColSpecError(ValueError):
    """A column spec that does not parse; ``str()`` is Guild's message."""


class Col:
    """One column: ``kind`` is ``scalar``, ``flag`` or ``attr``. Immutable; equal when every field is."""

    __slots__ = ("kind", "name", "qual", "step", "prefix", "named_as")
    kind: str
    name: str
    qual: str | None  # scalars: first last min max avg total count (None = last)
    step: bool
    prefix: str | None  # scalars: ``prefix#tag`` matches prefixes starting with it
    named_as: str | None

    def __init__(
        self,
        kind: str,
        name: str,
        qual: str | None = None,
        step: bool = False,
        prefix: str | None = None,
        named_as: str | None = None,
    ):
        for attr, val in zip(self.__slots__, (kind, name, qual, step, prefix, named_as)):
            object.__setattr__(self, attr, val)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Col is immutable")

    def _fields(self) -> tuple:
        return (self.kind, self.name, self.qual, self.step, self.prefix, self.named_as)

    def __eq__(self, other: object) -> bool:
        return type(other) is Col and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return "Col(%s)" % ", ".join("%s=%r" % kv for kv in zip(self.__slots__, self._fields()))

    @property
    def header(self) -> str:
        """The column's header: its ``as`` name, else the key (``#`` as a space) plus `` step``."""
        if self.named_as is not None:
            return self.named_as
        if self.kind != "scalar":
            return self.name
        key = self.name if self.prefix is None else "%s %s" % (self.prefix, self.name)
        return key + " step" if self.step else key

    @property
    def key(self) -> str:
        return self.name if self.prefix is None else "%s#%s" % (self.prefix, self.name)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """``(kind, value, pos)`` tokens; kinds: comma, word (reserved), quoted, term."""
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            ws = len(text[pos:]) - len(text[pos:].lstrip())
            raise ColSpecError("illegal character %r, line 1, pos %d" % (text[pos + ws], pos + ws + _OFFSET))
        start = m.start(m.lastgroup or 0)
        if m.group("comma"):
            out.append(("comma", ",", start))
        elif m.group("quoted") is not None:
            out.append(("quoted", m.group("quoted")[1:-1], start))
        else:
            term = m.group("term")
            out.append(("word" if term in _RESERVED else "term", term, start))
        pos = m.end()
    return out


def _unexpected(tok: tuple[str, str, int] | None) -> ColSpecError:
    if tok is None:
        return ColSpecError("unexpected end of input")
    shown = tok[1] if tok[0] != "quoted" else repr(tok[1])
    return ColSpecError("unexpected token %r, line 1, pos %d" % (shown, tok[2] + _OFFSET))


def parse(text: str) -> list[Col]:
    """Columns of a comma-separated spec (raises ColSpecError)."""
    toks = _tokens(text)
    cols: list[Col] = []
    i = 0
    if not toks:
        raise _unexpected(None)
    while True:
        col, i = _col(toks, i)
        cols.append(col)
        if i == len(toks):
            return cols
        if toks[i][0] != "comma":
            raise _unexpected(toks[i])
        i += 1


def _col(toks: list[tuple[str, str, int]], i: int) -> tuple[Col, int]:
    def at(j: int) -> tuple[str, str, int] | None:
        return toks[j] if j < len(toks) else None

    qual = None
    tok = at(i)
    if tok and tok[0] == "word" and tok[1] in QUALIFIERS:
        qual = tok[1]
        i += 1
        tok = at(i)
    if tok is None or tok[0] not in ("term", "quoted"):
        raise _unexpected(tok)
    kind, name, prefix = _term(tok[1])
    i += 1
    step = False
    tok = at(i)
    if tok and tok[0] == "word" and tok[1] == "step":
        step = True
        i += 1
        tok = at(i)
    if kind != "scalar" and (qual or step):
        raise _unexpected(toks[i - 1] if step else toks[i - 2])
    if step and qual in ("avg", "total", "count"):
        raise ColSpecError("'%s' has no step: use step with first, last, min or max" % qual)
    named_as = None
    if tok and tok[0] == "word" and tok[1] == "as":
        tok = at(i + 1)
        if tok is None or tok[0] not in ("term", "quoted", "word"):
            raise _unexpected(tok)
        named_as = tok[1]
        i += 2
    return Col(kind, name, qual, step, prefix, named_as), i


def _term(text: str) -> tuple[str, str, str | None]:
    if text.startswith("="):
        return "flag", text[1:], None
    if text.startswith("flag:"):
        return "flag", text[5:], None
    if text.startswith("."):
        return "attr", text[1:], None
    if text.startswith("attr:"):
        return "attr", text[5:], None
    if text.startswith("scalar:"):
        text = text[7:]
    if "#" in text:
        prefix, tag = text.split("#", 1)
        return "scalar", tag, prefix
    return "scalar", text, None
