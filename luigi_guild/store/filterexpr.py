"""Filter expressions (``-F EXPR``): Guild's small query language over run attributes, flags and scalars.

``EXPR`` is tests joined with ``and``/``or`` (one precedence, grouped from
the right, as Guild groups them), ``not`` and parentheses. A test names a
value and compares it: ``lr >= 0.01``, ``status = completed``, ``label
contains best``, ``x in [1, 2]``, ``y is undefined``, ``tags not contains
a``. A name is looked up as a run attribute (``status``, ``operation``,
``op``, ``model``, ``label``, ``started``, ... and any ``.guild/attrs``
file), then a flag, then a scalar (its last value); ``attr:``, ``flag:`` and
``scalar:`` prefixes pick one. Comparisons between values of different types
are false, not errors.
"""

from __future__ import annotations

import json
import re

from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import Run

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Any, Callable

    Expr = Callable[["RunValues"], Any]

_KEYWORDS = ("and", "or", "in", "not", "true", "false", "is", "undefined", "contains")
# (kind, pattern), tried in order at each position (the longer operators first).
_TOKENS = [
    ("LPAREN", r"\("), ("RPAREN", r"\)"), ("LBRACKET", r"\["), ("RBRACKET", r"\]"),
    ("NEQ", r"<>|!="), ("EQ", r"="), ("LTE", r"<="), ("LT", r"<"), ("GTE", r">="), ("GT", r">"),
    ("COMMA", r","),
    ("ID", r"[a-zA-Z][^ ,<>!=\n\(\)\[\]]*"),
    ("NUMBER", r"-?\.?\d+(\.\d+)?([eE][+-]?\d+)?"),
    ("STR", r"\"([^\\\n]|\\.)*?\"|'([^\\\n]|\\.)*?'"),
]
_TOKEN_RE = [(kind, re.compile(p)) for kind, p in _TOKENS]
_SPACE = " \t\n"
_COMPARE = {
    "EQ": lambda a, b: a == b,
    "NEQ": lambda a, b: a != b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
}


class FilterSyntaxError(GuildError):
    """An ``-F`` expression that does not parse."""


class Token:
    __slots__ = ("kind", "value", "pos", "text")

    def __init__(self, kind: str, value: Any, pos: int, text: str):
        self.kind, self.value, self.pos, self.text = kind, value, pos, text


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _string(text: str) -> str:
    if text.startswith('"'):
        try:
            return str(json.loads(text))
        except ValueError:
            pass
    return text[1:-1]


def tokenize(expr: str) -> list[Token]:
    tokens = []
    i = 0
    while i < len(expr):
        if expr[i] in _SPACE:
            i += 1
            continue
        for kind, pattern in _TOKEN_RE:
            m = pattern.match(expr, i)
            if m:
                text = m.group(0)
                value: Any = text
                if kind == "ID" and text.lower() in _KEYWORDS:
                    kind = text.upper()
                elif kind == "NUMBER":
                    value = _number(text)
                elif kind == "STR":
                    value = _string(text)
                tokens.append(Token(kind, value, i, text))
                i = m.end()
                break
        else:
            raise FilterSyntaxError("syntax error in filter at position %d: unexpected character '%s'" % (i, expr[i]))
    return tokens


class RunValues:
    """What an expression reads from one run: attributes, flags and scalars, each read once."""

    def __init__(self, run: Run, scalars: Callable[[Run], dict[str, Any]] | None = None):
        self.run = run
        self._scalars_fn = scalars
        self._scalars: dict[str, Any] | None = None

    def attr(self, name: str) -> Any:
        run = self.run
        if name in ("id",):
            return run.id
        if name in ("run", "short_id"):
            return run.short_id
        if name == "status":
            return str(run.status)
        if name == "operation":
            return run.op_name
        if name in ("op", "model", "from"):
            try:
                opref = run.opref
            except (OSError, ValueError):
                return None
            if name == "op":
                return opref.op_name
            if name == "model":
                return opref.model_name or None
            return opref.pkg_name
        if name in ("started", "stopped"):
            from luigi_guild.model.table import format_timestamp

            return format_timestamp(run.get(name)) or None
        if name == "sourcecode":
            digest = run.get("sourcecode_digest")
            return str(digest)[:8] if digest else None
        if name == "label":
            return run.label or None
        return run.get(name)

    def flag(self, name: str) -> Any:
        return run_flags(self.run).get(name)

    def scalar(self, key: str) -> Any:
        if self._scalars is None:
            self._scalars = self._scalars_fn(self.run) if self._scalars_fn else {}
        return self._scalars.get(key)

    def value(self, ref: str) -> Any:
        for prefix, read in (("attr:", self.attr), ("flag:", self.flag), ("scalar:", self.scalar)):
            if ref.startswith(prefix):
                return read(ref[len(prefix) :])
        for read in (self.attr, self.flag, self.scalar):
            val = read(ref)
            if val is not None:
                return val
        return None


def run_flags(run: Run) -> dict[str, Any]:
    flags = run.get("flags")
    return flags if isinstance(flags, dict) else {}


class _Parser:
    def __init__(self, expr: str):
        self.tokens = tokenize(expr)
        self.i = 0

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, *kinds: str) -> Token:
        tok = self.peek()
        if tok is None:
            raise FilterSyntaxError("syntax error in filter - unexpected end of expression")
        if kinds and tok.kind not in kinds:
            raise _unexpected(tok)
        self.i += 1
        return tok

    def parse(self) -> Expr:
        expr = self.expression()
        tok = self.peek()
        if tok is not None:
            raise _unexpected(tok)
        return expr

    def expression(self) -> Expr:
        left = self.unary()
        tok = self.peek()
        if tok is not None and tok.kind in ("AND", "OR"):
            self.i += 1
            right = self.expression()  # one precedence, grouped from the right
            if tok.kind == "AND":
                return lambda v: left(v) and right(v)
            return lambda v: left(v) or right(v)
        return left

    def unary(self) -> Expr:
        tok = self.peek()
        if tok is not None and tok.kind == "NOT":
            self.i += 1
            inner = self.unary()
            return lambda v: not inner(v)
        return self.primary()

    def primary(self) -> Expr:
        tok = self.take()
        if tok.kind == "LPAREN":
            inner = self.expression()
            self.take("RPAREN")
            return inner
        if tok.kind == "ID":
            nxt = self.peek()
            if nxt is not None and nxt.kind in _COMPARE or nxt is not None and nxt.kind in ("IS", "IN", "CONTAINS"):
                return self.test(tok.value)
            if nxt is not None and nxt.kind == "NOT" and self.peek(1) is not None:
                after = self.peek(1)
                assert after is not None
                if after.kind in ("IN", "CONTAINS"):
                    return self.test(tok.value)
        self.i -= 1
        return self.term()

    def test(self, ref: str) -> Expr:
        op = self.take()
        if op.kind in _COMPARE:
            return _compare(ref, _COMPARE[op.kind], self.term())
        if op.kind == "IS":
            negate = self.peek() is not None and self.peek().kind == "NOT"  # type: ignore[union-attr]
            if negate:
                self.i += 1
            return _compare(ref, (lambda a, b: a != b) if negate else (lambda a, b: a == b), self.term())
        negate = op.kind == "NOT"
        if negate:
            op = self.take("IN", "CONTAINS")
        if op.kind == "IN":
            return _in(ref, self.term_list(), negate)
        return _contains(ref, self.term(), negate)

    def term(self) -> Expr:
        tok = self.take("NUMBER", "STR", "ID", "TRUE", "FALSE", "UNDEFINED", "LBRACKET")
        if tok.kind == "LBRACKET":
            self.i -= 1
            return self.term_list()
        val: Any = {"TRUE": True, "FALSE": False, "UNDEFINED": None}.get(tok.kind, tok.value)
        return lambda _v: val

    def term_list(self) -> Expr:
        self.take("LBRACKET")
        items = [self.term()]
        while self.take("COMMA", "RBRACKET").kind == "COMMA":
            items.append(self.term())
        return lambda v: [t(v) for t in items]


def _unexpected(tok: Token) -> FilterSyntaxError:
    return FilterSyntaxError("syntax error in filter at position %d: unexpected token %r" % (tok.pos, tok.text))


def _compare(ref: str, cmp: Callable[[Any, Any], bool], target: Expr) -> Expr:
    def test(v: RunValues) -> bool:
        try:
            return bool(cmp(v.value(ref), target(v)))
        except TypeError:
            return False

    return test


def _in(ref: str, targets: Expr, negate: bool) -> Expr:
    def test(v: RunValues) -> bool:
        vals = targets(v)
        return (v.value(ref) in vals) != negate

    return test


def _contains(ref: str, target: Expr, negate: bool) -> Expr:
    def test(v: RunValues) -> bool:
        val = v.value(ref)
        if not val:
            return negate
        want = target(v)
        if isinstance(val, list):
            found = want in val
        else:
            found = str(want).lower() in str(val).lower()
        return found != negate

    return test


def parse(expr: str) -> Callable[[Run], bool]:
    """A predicate over runs for ``expr``; raises :class:`FilterSyntaxError` when it does not parse."""
    compiled = _Parser(expr).parse()

    def predicate(run: Run) -> bool:
        return bool(compiled(RunValues(run, _last_scalars)))

    return predicate


def _last_scalars(run: Run) -> dict[str, Any]:
    """A run's scalars by key, last values (read only when a name is neither an attribute nor a flag)."""
    from luigi_guild.store import scalars  # the scalar index (sqlite): only for expressions that need it

    return {key: val for key, (val, _step) in scalars.last_values(run).items()}
