"""Flags: definitions, ``NAME=VAL`` parsing, coercion, formatting and labels."""

from __future__ import annotations

import datetime
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from luigi_guild.model import flagseq
from luigi_guild.model.errors import GuildError
from luigi_guild.model.flagid import canonical

FLAG_TYPES = ("string", "number", "int", "float", "boolean", "path", "existing-path")

_TRUE = {"yes", "true", "on", "y", "1"}
_FALSE = {"no", "false", "off", "n", "0"}


@dataclass
class FlagDef:
    """One flag an operation accepts."""

    name: str
    type: str | None = None
    default: Any = None
    choices: list | None = None
    min: Any = None
    max: Any = None
    required: bool = False
    description: str = ""
    arg_name: str | None = None
    arg_switch: Any = None
    # Never passed to the operation's process (the flags that record upstream runs).
    arg_skip: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_value(cls, name: str, val: Any, description: str = "") -> "FlagDef":
        """A flag whose default is ``val``, typed by it (boolean, number, string, or untyped)."""
        if isinstance(val, bool):
            ftype: str | None = "boolean"
        elif isinstance(val, (int, float)):
            ftype = "number"
        elif isinstance(val, str):
            ftype = "string"
        else:
            ftype = None
        return cls(name, type=ftype, default=val, description=description)


def parse_assigns(args: Iterable[str]) -> dict[str, str]:
    """Split ``NAME=VAL`` arguments into a mapping of raw strings."""
    assigns: dict[str, str] = {}
    for arg in args:
        name, sep, val = arg.partition("=")
        if not sep or not name:
            raise GuildError("invalid argument '%s' - expected NAME=VAL" % arg)
        assigns[name] = val
    return assigns


# A word starting with a letter is a plain YAML string unless YAML 1.1 reads it
# as a boolean or null; those spellings go through YAML.
_PLAIN_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*\Z")
_YAML_WORDS = frozenset(
    w
    for word in ("y", "n", "yes", "no", "true", "false", "on", "off", "null")
    for w in (word, word.capitalize(), word.upper())
)


def _number(s: str) -> int | float | None:
    try:
        val = int(s)
    except ValueError:
        pass
    else:
        return val
    try:
        return float(s)
    except ValueError:
        return None


def decode_untyped(s: str) -> Any:
    """Decode a flag value with no declared type: int, float, then YAML scalars/lists.

    Numbers written with ``_`` or ``:`` (``1_000``, ``12:30``) stay strings.
    """
    if s == "":
        return ""
    seq = expand_sequence(s)
    if seq is not None:
        return seq
    num = _number(s)
    if num is not None:
        return s if "_" in s else num
    if _is_function(s):
        return s
    if _PLAIN_WORD_RE.match(s) and s not in _YAML_WORDS:
        return s  # what YAML would give, without loading YAML
    from luigi_guild.model import yamlutil

    try:
        val = yamlutil.decode(s)
    except Exception:
        return s
    if isinstance(val, (int, float)) and not isinstance(val, bool) and (":" in s or "_" in s):
        return s
    if isinstance(val, (str, int, float, bool, list, datetime.date)) or val is None:
        return val  # a date (``2024-01-02``) stays a date, as Guild decodes it
    return s


def _is_sequence_text(s: str) -> bool:
    return s[:1] in ("[", "'", '"', "{")


def decode_flag_val(raw: str, flagdef: FlagDef | None) -> Any:
    """Decode ``raw`` for ``flagdef``'s type; raises GuildError on a bad value.

    A value written as a YAML list (``[1, 2]``) decodes to a list whatever the
    type: lists make sweeps, and their items are each coerced.
    """
    if flagdef is not None:
        aliases = flagdef.extra.get("choice_aliases")
        if aliases and raw in aliases:
            return aliases[raw]
    if flagdef is None or flagdef.type is None:
        return decode_untyped(raw)
    ftype = flagdef.type
    seq = expand_sequence(raw)
    if seq is not None:
        return [coerce(item, flagdef) for item in seq]
    if _is_function(raw):
        return raw
    if _is_sequence_text(raw) and raw.startswith("["):
        val = decode_untyped(raw)
        if isinstance(val, list):
            return [coerce(item, flagdef) for item in val]
        if isinstance(val, str) and _is_function(val):
            return val
    if ftype in ("string", "path", "existing-path"):
        if _is_sequence_text(raw):
            return decode_untyped(raw)
        return raw
    if _is_function(raw):
        return raw
    return coerce(raw, flagdef)


_REPEAT_RE = re.compile(r"^\s*(\[[^][]*\])\s*\*\s*(\d+)\s*$")


def expand_sequence(s: str) -> list | None:
    """The list ``s`` stands for when it is a sequence function or a repeated list (``[1,2]*2``), else None."""
    m = _REPEAT_RE.match(s)
    if m:
        items = decode_untyped(m.group(1))
        return list(items) * int(m.group(2)) if isinstance(items, list) else None
    return flagseq.expand(s)


_FUNCTION_RE = re.compile(r"^([a-zA-Z_]\w*)?\[[^][,\x27\x22]*:[^][,\x27\x22]*\]$")  # no quotes or commas inside


def _is_function(s: Any) -> bool:
    """Whether ``s`` is a flag function such as ``[0:1]`` or ``loguniform[1e-4:1e-1]``."""
    return isinstance(s, str) and bool(_FUNCTION_RE.match(s.strip()))


def coerce(val: Any, flagdef: FlagDef) -> Any:
    """Coerce ``val`` (string or decoded) to ``flagdef.type``."""
    ftype = flagdef.type
    name = flagdef.name
    if val is None:
        return None
    try:
        if ftype == "int":
            if isinstance(val, bool):
                raise ValueError
            if isinstance(val, float):
                if not val.is_integer():
                    raise ValueError
                return int(val)
            return int(str(val))
        if ftype == "float":
            if isinstance(val, bool):
                raise ValueError
            return float(val)
        if ftype == "number":
            if isinstance(val, bool):
                raise ValueError
            if isinstance(val, (int, float)):
                return val
            s = str(val)
            try:
                return int(s)
            except ValueError:
                return float(s)
        if ftype == "boolean":
            if isinstance(val, bool):
                return val
            s = str(val).strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            raise ValueError
        if ftype in ("string", "path", "existing-path"):
            return val if isinstance(val, str) else str(val)
    except (ValueError, TypeError):
        raise GuildError(
            "invalid value %s for %s: expected %s" % (_shown(val), name, _type_desc(ftype))
        ) from None
    return val


def _shown(val: Any) -> str:
    """A rejected value as the user typed it (quoted only when empty or spaced)."""
    if isinstance(val, str) and val and " " not in val:
        return val
    return format_val(val)


def _type_desc(ftype: str | None) -> str:
    return {"int": "an integer", "float": "a number", "number": "a number", "boolean": "a boolean"}.get(
        ftype or "", ftype or "a value"
    )


def check_value(val: Any, flagdef: FlagDef) -> None:
    """Check ``choices``, ``min`` and ``max`` for one value (lists: each item)."""
    if isinstance(val, list):
        for item in val:
            check_value(item, flagdef)
        return
    if val is None or _is_function(val):
        return
    if flagdef.choices is not None and val not in flagdef.choices:
        raise GuildError(
            "invalid value %s for %s: allowed values are %s"
            % (format_val(val), flagdef.name, ", ".join(format_val(c) for c in flagdef.choices))
        )
    if flagdef.min is not None and isinstance(val, (int, float)) and val < flagdef.min:
        raise GuildError("invalid value %s for %s: less than min (%s)" % (format_val(val), flagdef.name, flagdef.min))
    if flagdef.max is not None and isinstance(val, (int, float)) and val > flagdef.max:
        raise GuildError(
            "invalid value %s for %s: greater than max (%s)" % (format_val(val), flagdef.name, flagdef.max)
        )


def resolve_flags(
    flagdefs: dict[str, FlagDef],
    assigns: dict[str, str],
    base: dict[str, Any] | None = None,
    force_flags: bool = False,
    op_name: str = "",
) -> dict[str, Any]:
    """Flag values: defaults (or ``base``) overlaid with decoded ``assigns``, sorted by name."""
    values: dict[str, Any] = dict(base) if base is not None else {n: d.default for n, d in flagdefs.items()}
    assigns = normalize_aliases(flagdefs, assigns, force_flags)
    for name, raw in assigns.items():
        flagdef = flagdefs.get(name)
        if flagdef is None and not force_flags and not (base is not None and name in base):
            raise GuildError(
                "unsupported flag '%s'" % name,
                hint="Try 'guild run %s --help-op' for a list of flags or use --force-flags to skip this check."
                % op_name
                if op_name
                else None,
            )
        try:
            values[name] = decode_flag_val(raw, flagdef)
        except flagseq.SequenceError as e:
            raise GuildError("invalid function args in '%s=%s': %s" % (name, raw, e.reason)) from None
    missing = []
    for name, flagdef in flagdefs.items():
        if name in values:
            check_value(values[name], flagdef)
        if flagdef.required and values.get(name) is None:
            missing.append((name, flagdef.description))
    if missing:
        from luigi_guild.model.errors import MissingFlagsError

        raise MissingFlagsError(missing)
    _check_no_nul(values)
    return canonical(values)


def normalize_aliases(flagdefs: dict[str, FlagDef], assigns: dict[str, str], force_flags: bool = False) -> dict[str, str]:
    """``assigns`` with flag aliases (``alias:`` in guild.yml) replaced by flag names.

    Giving a flag both by its alias and by its name is an error.
    """
    aliases = {fd.extra["alias"]: name for name, fd in flagdefs.items() if fd.extra.get("alias")}
    if not aliases:
        return assigns
    out: dict[str, str] = {}
    for name, raw in assigns.items():
        target = aliases.get(name) if name not in flagdefs else None
        if target is None:
            out[name] = raw
            continue
        if target in assigns and not force_flags:
            raise GuildError(
                "cannot specify both alias '%s' and name for flag '%s'" % (name, target),
                hint="Use --force-flags to skip this check.",
            )
        out.setdefault(target, raw)
    return out


def resolve_values(
    flagdefs: dict[str, FlagDef], values: dict[str, Any], force_flags: bool = False, op_name: str = ""
) -> dict[str, Any]:
    """Flag values from Python values (the Luigi API): defaults overlaid, coerced and checked."""
    resolved: dict[str, Any] = {n: d.default for n, d in flagdefs.items()}
    for name, val in values.items():
        flagdef = flagdefs.get(name)
        if flagdef is None:
            if not force_flags:
                raise GuildError("unsupported flag '%s' for %s" % (name, op_name or "this operation"))
            resolved[name] = val
            continue
        if isinstance(val, str):
            resolved[name] = decode_flag_val(val, flagdef)
        elif isinstance(val, (list, tuple)):
            resolved[name] = [coerce(v, flagdef) if flagdef.type else v for v in val]
        else:
            resolved[name] = coerce(val, flagdef) if flagdef.type else val
    for name, flagdef in flagdefs.items():
        check_value(resolved.get(name), flagdef)
        if flagdef.required and resolved.get(name) is None:
            raise GuildError("missing required flag '%s'" % name)
    _check_no_nul(resolved)
    return canonical(resolved)


def _check_no_nul(values: dict[str, Any]) -> None:
    """Refuse a NUL character in a flag value: no command line or environment can carry one."""
    for name, val in values.items():
        items = val if isinstance(val, (list, tuple)) else [val]
        if any(isinstance(v, str) and "\0" in v for v in items):
            raise GuildError("invalid value for flag '%s': it contains a NUL character" % name)


# ---------------------------------------------------------------- formatting


def _keyword(val: Any, none: str = "null") -> str | None:
    """``yes``/``no`` for booleans, ``none`` for None; None for every other value."""
    if val is True:
        return "yes"
    if val is False:
        return "no"
    if val is None:
        return none
    return None


def _flag_text(
    val: Any, float_text: Callable[[float], str], item_text: Callable[[Any], str], string_text: Callable[[str], str]
) -> str:
    """A flag value as text: keywords and ints one way, floats, list items and strings as the caller says."""
    word = _keyword(val)
    if word is not None:
        return word
    if isinstance(val, float):
        return float_text(val)
    if isinstance(val, int):
        return str(val)
    if isinstance(val, list):
        return "[%s]" % ", ".join(item_text(v) for v in val)
    if isinstance(val, datetime.date):
        return str(val)  # as YAML writes it: 2024-01-02, 2024-01-02 10:20:30
    return string_text(str(val))


def format_val(val: Any) -> str:
    """A flag value as labels and argv show it."""
    return _flag_text(val, _format_float, format_val, _shown_string)


def _shown_string(s: str) -> str:
    if s == "" or " " in s or not s.isprintable() or _would_decode_as_other(s):
        return repr(s)  # repr also keeps newlines and control chars out of labels
    return s


def _would_decode_as_other(s: str) -> bool:
    if _is_function(s):
        return False
    try:
        val = decode_untyped(s)
    except Exception:
        return False
    return not (isinstance(val, str) and val == s)


def _format_float(f: float) -> str:
    if math.isnan(f) or math.isinf(f):
        return repr(f)
    r = repr(f)
    if "e" in r or "E" in r:
        return r
    whole, _, frac = r.partition(".")
    if len(frac) > 5:
        s = ("%.5f" % f).rstrip("0")
        return s + "0" if s.endswith(".") else s
    return r


def default_label(flags: dict[str, Any]) -> str:
    """``name=value`` pairs of non-null flags, sorted by name, space-joined."""
    return " ".join("%s=%s" % (name, format_val(flags[name])) for name in sorted(flags) if flags[name] is not None)


_TEMPLATE_RE = re.compile(r"\$\{([^}|]+)(?:\|([^}]*))?\}")


def render_label(template: str | None, flags: dict[str, Any], default: str | None = None) -> str:
    """Render a label template: ``${flag}``, ``${default_label}``, and filters after ``|``.

    Filters apply left to right: ``%.2f`` (a Python format), ``default:X``
    (X when the flag is null or missing), ``basename`` and ``unquote`` (drop
    surrounding single quotes). ``default`` is the default label (computed
    from ``flags`` when not given).
    """
    if not template:
        return default if default is not None else default_label(flags)

    def repl(m: re.Match) -> str:
        name = m.group(1).strip()
        filters = m.group(2).split("|") if m.group(2) else []
        if name == "default_label":
            val: Any = default if default is not None else default_label(flags)
        else:
            val = flags.get(name)
        formatted = False
        for f in filters:
            fname, _, arg = f.partition(":")
            if fname.startswith("%"):
                try:
                    val, formatted = fname % val, True
                except Exception:  # a bad format (``%c`` of -1, ``%(k)s``...) leaves the value as it is
                    pass
            elif fname == "default":
                val = arg if val is None else val
            elif fname == "basename":
                val = os.path.basename(str(val).rstrip("/")) if val else ""
            elif fname == "unquote":
                text = val if isinstance(val, str) else format_val(val) if val is not None else ""
                val = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text
            else:
                val = "#error#"
        if val is None:
            return ""
        return val if formatted or isinstance(val, str) and (filters or name == "default_label") else format_val(val)

    return _TEMPLATE_RE.sub(repl, template).strip()


def encode_arg(val: Any) -> str:
    """A flag value for a command line, decodable by :func:`decode_untyped` to an equal value."""
    return _flag_text(val, repr, _encoded_item, _encoded_string)


def _encoded_item(val: Any) -> str:
    return _yaml_quote(val) if isinstance(val, str) else _list_item(val)


def _encoded_string(s: str) -> str:
    if _would_decode_as_other(s) or s[:1] in ("'", '"', "[", "{"):
        return _yaml_quote(s)
    return s


def _list_item(val: Any) -> str:
    """A non-string list item as YAML reads it back (floats need a dot or ``.inf``)."""
    if isinstance(val, float) and not isinstance(val, bool):
        if math.isnan(val):
            return ".nan"
        if math.isinf(val):
            return ".inf" if val > 0 else "-.inf"
        r = repr(val)
        if "e" in r and "." not in r:
            mant, _, exp = r.partition("e")
            r = "%s.0e%s" % (mant, exp if exp[:1] in "+-" else "+" + exp)
        elif "e" in r:
            mant, _, exp = r.partition("e")
            r = "%se%s" % (mant, exp if exp[:1] in "+-" else "+" + exp)
        return r
    return encode_arg(val)


def _yaml_quote(s: str) -> str:
    """``s`` as a YAML double-quoted scalar in plain ASCII (any character survives)."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFF:
            out.append("\\x%02x" % code)
        elif code <= 0xFFFF:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    out.append('"')
    return "".join(out)


def env_val(val: Any) -> str:
    """A flag value for ``FLAG_<NAME>`` environment variables."""
    word = _keyword(val, none="")
    if word is not None:
        return word
    if isinstance(val, float):
        return repr(val)
    return str(val)
