"""Output scalars: Guild's default patterns, guild.yml ``output-scalars`` forms and the line matcher.

No I/O. :func:`coerce_config` turns a guild.yml value into the stored form
(``None`` = defaults, ``False`` = off, else a list of strings/mappings);
:class:`Matcher` feeds output lines through the patterns and yields
``(key, value, step)`` triples in Guild's order.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

# ``\key``, ``\value`` and ``\step`` are shorthands usable in every pattern.
ALIASES = (
    ("\\key", "[^ \t]+"),
    ("\\value", "[0-9\\.e\\-]+"),
    ("\\step", "[0-9]+"),
)

DEFAULT_PATTERNS = [
    r"\key: +\value\s+\((?:step\s+)?(?P<step>\step)\)$",
    r"^(\key):\s+(\value)(?:\s+\(.*\))?$",
]


# Lines longer than this are not searched: a pattern such as ``\key: ...`` tried at every position of
# one long token costs time quadratic in its length (a 50,000-character line took 23 s).
MAX_LINE_CHARS = 4096

_CONTROL_BYTES = bytes(range(9))


class OutputScalarsError(ValueError):
    """An ``output-scalars`` value of a shape Guild does not accept."""


def coerce_config(val: Any) -> Any:
    """The stored form of a guild.yml ``output-scalars`` value (raises OutputScalarsError)."""
    if val is None:
        return None
    if val is False:
        return False
    if isinstance(val, str):
        return [val]
    if isinstance(val, dict):
        return [val]
    if isinstance(val, list):
        return list(val)
    raise OutputScalarsError(
        "invalid output-scalars %r: expected a mapping, list, string, or false" % (val,)
    )


def expand_aliases(pattern: str) -> str:
    for alias, repl in ALIASES:
        pattern = pattern.replace(alias, repl)
    return pattern


def compile_patterns(config: Any, warn: Any = None) -> list[tuple[str | None, re.Pattern[str]]]:
    """``(config key, compiled regex)`` pairs for a stored config (``None``: the defaults).

    Mapping items contribute their entries in sorted key order. Patterns that
    do not compile are reported through ``warn`` (a callable taking a line)
    and skipped.
    """
    items = DEFAULT_PATTERNS if config is None else config
    if not isinstance(items, list):
        return []
    out: list[tuple[str | None, re.Pattern[str]]] = []
    for item in items:
        if isinstance(item, dict):
            pairs: Iterable[tuple[Any, Any]] = sorted(item.items(), key=lambda kv: str(kv[0]))
        elif isinstance(item, str):
            pairs = [(None, item)]
        else:
            if warn:
                warn("invalid output scalar item: %r" % (item,))
            continue
        for key, pattern in pairs:
            if not isinstance(pattern, str):
                if warn:
                    warn("invalid output scalar pattern: %r" % (pattern,))
                continue
            expanded = expand_aliases(pattern)
            try:
                out.append((None if key is None else str(key), re.compile(expanded)))
            except re.error as e:
                if warn:
                    warn("error compiling pattern %s: %s" % (expanded, e))
    return out


def clean_line(line: bytes | str) -> str:
    """A line as it is matched: control bytes below 9 dropped, decoded leniently, right-stripped."""
    if isinstance(line, bytes):
        line = line.translate(None, _CONTROL_BYTES).decode("utf-8", errors="ignore")
    return line.rstrip()


def _as_float(s: Any) -> float | None:
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def match_values(m: re.Match[str], key: str | None, warn: Any = None) -> dict[str, float]:
    """The ``{name: value}`` one regex match contributes (Guild's group rules)."""
    vals: dict[str, float] = {}
    named = m.groupdict()
    if named:
        if "_key" in named and "_val" in named:
            f = _as_float(named["_val"])
            if f is not None and named["_key"] is not None:
                vals[named["_key"]] = f
        else:
            for name, s in named.items():
                f = _as_float(s)
                if f is not None:
                    vals[name] = f
        return vals
    groups = m.groups()
    if len(groups) == 1:
        f = _as_float(groups[0])
        if f is not None:
            vals[key or ""] = f
    elif len(groups) == 2:
        f = _as_float(groups[1])
        if f is not None and groups[0] is not None:
            vals[groups[0]] = f
    elif warn:
        warn("bad unnamed group count %i for %r (expected 1 or 2) skipping" % (len(groups), m.re.pattern))
    return vals


class Matcher:
    """Stateful matcher for one run's output: remembers the current step between lines."""

    def __init__(self, config: Any = None, ignore: Iterable[str] = (), warn: Any = None):
        self.patterns = compile_patterns(config, warn)
        # Flag names are skipped only with the default patterns.
        self.ignore = set(ignore) if config is None else set()
        self.step: int | None = None
        self._warn = warn

    def feed(self, line: bytes | str) -> Iterator[tuple[str, float, int]]:
        """Scalars found in ``line``: ``(key, value, step)`` in sorted key order."""
        text = clean_line(line)
        if len(text) > MAX_LINE_CHARS:
            return
        vals: dict[str, float] = {}
        for key, pattern in self.patterns:
            if _needs_closing_paren(pattern) and not text.endswith(")"):
                continue  # cheap test first: the search itself is slow on long lines
            for m in pattern.finditer(text):
                vals.update(match_values(m, key, self._warn))
        step = vals.pop("step", None)
        if step is not None:
            self.step = int(step)
        for name in sorted(vals):
            if name in self.ignore:
                continue
            yield name, vals[name], self.step or 0


def _needs_closing_paren(pattern: re.Pattern[str]) -> bool:
    """True when ``pattern`` can only match a line that ends with ``)`` (its source ends in ``\\)$``)."""
    src = pattern.pattern
    return src.endswith("\\)$") and not src.endswith("\\\\)$")


def _fmt_val(v: float) -> str:
    return repr(v)


def test_lines(lines: Iterable[bytes | str], config: Any) -> Iterator[str]:
    """``guild run --test-output-scalars``: each line, then one line per pattern tried on it."""
    patterns = compile_patterns(config)
    for raw in lines:
        line = clean_line(raw)
        yield line
        for key, pattern in patterns:
            matches = list(pattern.finditer(line))
            if not matches:
                yield "  %r: <no matches>" % pattern.pattern
                continue
            vals: dict[str, float] = {}
            for m in matches:
                vals.update(match_values(m, key))
            groups = str([m.groups() for m in matches])
            assigns = ", ".join("%s=%s" % (name, _fmt_val(val)) for name, val in sorted(vals.items()))
            yield "  %r: %s (%s)" % (pattern.pattern, groups, assigns)
