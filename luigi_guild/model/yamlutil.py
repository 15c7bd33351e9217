"""YAML encoding and decoding the way Guild writes attribute files."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Any


def yaml_classes() -> tuple[Any, Any]:
    """``(loader, dumper)``: PyYAML's safe classes, the C ones where libyaml is built in.

    PyYAML is imported here, on first use, so that reading simple attrs
    (the fast path of :func:`decode`) never pays for importing it.
    """
    import yaml

    try:  # the C loader is several times faster where libyaml is available
        return yaml.CSafeLoader, yaml.CSafeDumper
    except AttributeError:  # pragma: no cover - depends on the PyYAML build
        return yaml.SafeLoader, yaml.SafeDumper



# YAML 1.1 words PyYAML's safe loader resolves to booleans and null (exact spellings).
_BOOLS = {
    w: val
    for val, words in ((True, ("yes", "true", "on")), (False, ("no", "false", "off")))
    for word in words
    for w in (word, word.capitalize(), word.upper())
}
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_KEY_CHARS = _LETTERS | _DIGITS | frozenset("_-.")
_WORD_CHARS = _KEY_CHARS | frozenset("/=+ ")
_QUOTABLE_CHARS = _WORD_CHARS | frozenset(':#,[]{}"@!%&*?|<>`$()^;~')
_NOT_SIMPLE = object()
_HEX = frozenset("0123456789abcdef")


def _plain_ref(s: str) -> bool:
    """Words PyYAML writes plain that the simple shapes miss: run ids and ``operation:NAME`` flag names.

    A 32-digit lowercase hex run id with a letter in it (YAML 1.1 reads
    neither an int nor a float in it: those need all digits, ``0x``/``0b``,
    or a dot), and a letter-first word with ``:`` inside (never followed by
    a space or last), which YAML always reads as a string.
    """
    if len(s) == 32 and _HEX.issuperset(s):
        return not _digits(s) and not (s[:2] == "0b" and set(s[2:]) <= {"0", "1"})
    return s[:1] in _LETTERS and ":" in s and s[-1] != ":" and (_KEY_CHARS | {":"}).issuperset(s)


def encode(value: Any) -> str:
    """Encode ``value`` as a block-style YAML document without end markers.

    Values made of str/int/float/bool/None in dicts (str keys) and lists are
    written here without loading PyYAML; anything else goes through it.
    Either way the text reads back as ``value`` (property-tested).
    """
    lines = _simple_lines(value, 0)
    if lines is not None:
        return "\n".join(lines)
    import yaml

    text = yaml.dump(value, Dumper=yaml_classes()[1], default_flow_style=False, indent=2)
    text = text.rstrip("\n")  # only newlines: other leading or trailing white space is data
    if text.endswith("\n..."):
        text = text[:-4]
    elif text == "...":
        text = ""
    return text


def _simple_scalar_text(value: Any, top: bool = False) -> str | None:
    """``value`` as a one-line YAML scalar that reads back as itself, or None.

    A whole document of ``y``/``n`` is quoted (Guild's files do, for readers
    that take them as booleans); inside mappings and lists they stay plain,
    as PyYAML writes them.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is float:
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "." not in text:  # YAML 1.1 floats need a dot: 1e-05 -> 1.0e-05
            text = text.replace("e", ".0e", 1) if "e" in text else text + ".0"
        return text
    if kind is str:
        if not (value.isascii() and value.isprintable()):
            return None  # PyYAML escapes the rest, as Guild's files do
        if _plain_allowed(value) and not _implicit_non_str(value):
            return value  # written plain, as PyYAML writes it
        return "'%s'" % value.replace("'", "''")  # single-quoted: always a str, nothing escaped
    return None


# YAML 1.1 implicit types of plain scalars (bool, int, float, null, timestamp, merge, value), as
# PyYAML's safe loader resolves them, plus what guildai adds when it writes attrs: the one-letter
# booleans of its strict mode and floats without an exponent sign or a dot (1.0e3, 1e3).
_IMPLICIT_RE = None


def _implicit_non_str(s: str) -> bool:
    """Whether plain ``s`` would read back as something other than this string."""
    global _IMPLICIT_RE
    if _IMPLICIT_RE is None:
        import re

        digits = r"[0-9][0-9_]*"
        sexagesimal = r"(?::[0-5]?[0-9])+"
        exp = r"(?:[eE][-+]?[0-9]+)?"  # guildai also reads 1.0e3 (no exponent sign) as a float
        _IMPLICIT_RE = re.compile(
            "|".join(
                [
                    r"(?:y|Y|n|N|yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)",
                    r"[-+]?%s\.[0-9_]*%s" % (digits, exp),
                    r"[-+]?%s[eE][-+]?[0-9]+" % digits,  # and 1e3 (no dot)
                    r"\.[0-9_]+(?:[eE][-+][0-9]+)?",
                    r"[-+]?%s%s\.[0-9_]*" % (digits, sexagesimal),
                    r"[-+]?\.(?:inf|Inf|INF)",
                    r"\.(?:nan|NaN|NAN)",
                    r"[-+]?0b[01_]+",
                    r"[-+]?0[0-7_]+",
                    r"[-+]?(?:0|[1-9][0-9_]*)",
                    r"[-+]?0x[0-9a-fA-F_]+",
                    r"[-+]?[1-9][0-9_]*%s" % sexagesimal,
                    r"<<",
                    r"~|null|Null|NULL|",
                    r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
                    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
                    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?",
                    r"=",
                ]
            )
        )
    return _IMPLICIT_RE.fullmatch(s) is not None


def _plain_allowed(s: str) -> bool:
    """Whether a YAML emitter may write printable-ASCII ``s`` as a plain scalar in block context.

    Not when empty, with leading or trailing spaces, starting with a document
    marker or an indicator character, or holding ``: `` / `` #`` (or ending in ``:``).
    """
    if not s or s[0] == " " or s[-1] == " " or s.startswith(("---", "...")):
        return False
    first = s[0]
    if first in "#,[]{}&*!|>'\"%@`":
        return False
    if first in "?:-" and (len(s) == 1 or s[1] == " "):
        return False
    # After the first character: no ': ', no ':' at the end, no ' #' (string searches, not a loop per character).
    return s.find(": ", 1) < 0 and not (len(s) > 1 and s[-1] == ":") and " #" not in s


def _simple_lines(value: Any, depth: int) -> list[str] | None:
    """Block-style lines for ``value`` (nested dicts indented by two), or None."""
    kind = type(value)
    if kind is dict:
        if not value:
            return ["{}"]
        if not all(type(k) is str for k in value):
            return None
        lines = []
        for key in sorted(value):
            key_text = _simple_scalar_text(key)
            if key_text is None or depth > 20:
                return None
            val = value[key]
            if type(val) in (dict, list) and val:
                sub = _simple_lines(val, depth + 1)
                if sub is None:
                    return None
                pad = "  " if type(val) is dict else ""  # sequences in a mapping are not indented
                lines.append(key_text + ":")
                lines += [pad + line for line in sub]
            else:
                text = _simple_scalar_text(val) if type(val) not in (dict, list) else ("{}" if val == {} else "[]")
                if text is None:
                    return None
                lines.append(key_text + ": " + text)
        return lines
    if kind is list:
        if not value:
            return ["[]"]
        lines = []
        for item in value:
            text = _simple_scalar_text(item) if type(item) not in (dict, list) else None
            if text is None:
                return None
            lines.append("- " + text)
        return lines
    text = _simple_scalar_text(value, top=depth == 0)
    return None if text is None else [text]


def _digits(s: str) -> bool:
    return bool(s) and _DIGITS.issuperset(s)


def _simple_scalar(s: str) -> Any:
    """The value of plain scalar ``s`` when it is one of the common simple shapes.

    Covers single-quoted words (no quote inside), decimal ints, ``D.D[e±D]`` floats, the bool and null words, and
    letter-first words made of ``[A-Za-z0-9_-./=+ ]`` (YAML resolves none of
    those to anything but a string). Anything else: :data:`_NOT_SIMPLE`.
    """
    if s in _BOOLS:
        return _BOOLS[s]
    if s in _NULLS:
        return None
    first = s[0]
    if first == "'":
        return _single_quoted(s)
    if _plain_ref(s):
        return s
    if first in _LETTERS:
        if _WORD_CHARS.issuperset(s) and s[-1] != " ":
            return s
        return _NOT_SIMPLE
    body = s[1:] if first == "-" else s
    if _digits(body):
        return int(s) if body == "0" or body[0] != "0" else _NOT_SIMPLE  # "0123" is octal
    mant, dot, rest = body.partition(".")
    if not dot or not _digits(mant):
        return _NOT_SIMPLE
    frac, e, exp = rest.replace("E", "e").partition("e")
    if frac and not _digits(frac):
        return _NOT_SIMPLE
    if e and not (exp[:1] in ("-", "+") and _digits(exp[1:])):
        return _NOT_SIMPLE
    return float(s)


def _single_quoted(s: str) -> Any:
    """The text of ``'...'`` holding no quote and only common printable ASCII; else not simple."""
    inner = s[1:-1]
    if len(s) >= 2 and s[-1] == "'" and _QUOTABLE_CHARS.issuperset(inner):
        return inner
    return _NOT_SIMPLE


def _simple_document(text: str) -> Any:
    """``text`` decoded without YAML when it is a simple scalar or a flat mapping of them."""
    if text.endswith("\n"):
        text = text[:-1]
    if "\n" not in text and ":" not in text:
        return _simple_scalar(text)
    if text == "{}":
        return {}
    out: dict[str, Any] = {}
    for line in text.split("\n"):
        key, sep, val = line.partition(": ")
        if not sep or not key:
            return _NOT_SIMPLE
        if key[0] == "'":
            key = _single_quoted(key)
            if key is _NOT_SIMPLE or ":" in key:  # a quoted key holding ": " splits wrongly
                return _NOT_SIMPLE
        elif not _plain_ref(key) and (
            key[0] not in _LETTERS or not _KEY_CHARS.issuperset(key) or key in _BOOLS or key in _NULLS
        ):
            return _NOT_SIMPLE
        val = _simple_scalar(val)
        if val is _NOT_SIMPLE:
            return _NOT_SIMPLE
        out[key] = val
    return out


def decode(text: str) -> Any:
    """Decode a YAML document; simple scalars and flat mappings skip the YAML parser.

    The fast path gives exactly what the YAML loader would (a property test
    compares them); every other document goes to the loader.
    """
    val = _simple_document(text)
    if val is not _NOT_SIMPLE:
        return val
    import yaml

    value = yaml.load(text, Loader=yaml_classes()[0])
    if "&" in text:  # anchors: aliases may make a small text expand without bound
        _check_size(value)
    return value


# The most values (scalars and containers, aliases counted each time they are
# used) a decoded document may expand to: past it, it is damage (a "YAML bomb").
MAX_NODES = 100_000


def _check_size(value: Any) -> None:
    """Raise ``ValueError`` when ``value`` expands to more than :data:`MAX_NODES` values."""
    budget = MAX_NODES
    stack = [value]
    while stack:
        item = stack.pop()
        budget -= 1
        if budget < 0:
            raise ValueError("YAML document expands to more than %d values" % MAX_NODES)
        if type(item) is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif type(item) in (list, tuple, set):
            stack.extend(item)
