"""Flags kept in a config file (``flags-dest: config:FILE``): read them, and write a run's copy with its values.

YAML (``.yml``/``.yaml``), JSON (``.json``) and INI (``.ini``/``.cfg``)
files are read. Nested keys become dotted flag names (``model.layers``; an
INI option is ``section.option``). A run gets its own copy of the file with
the run's flag values written in, in the file's own format, so the script
reads its flags where it always does.
"""

from __future__ import annotations

import json
import os
from typing import Any

from luigi_guild.model.errors import GuildError
from luigi_guild.model.flags import FlagDef

_YAML = (".yml", ".yaml")
_INI = (".ini", ".cfg")


def _kind(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in _YAML:
        return "yaml"
    if ext == ".json":
        return "json"
    if ext in _INI:
        return "ini"
    raise GuildError("unsupported config file %s (expected .yml, .yaml, .json, .ini or .cfg)" % os.path.basename(path))


def load(path: str) -> dict[str, Any]:
    """The config file as nested mappings (INI: sections of options, values read as YAML scalars)."""
    kind = _kind(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise GuildError("cannot read config file %s: %s" % (path, e.strerror or e)) from None
    try:
        if kind == "json":
            data = json.loads(text) if text.strip() else {}
        elif kind == "yaml":
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            import configparser

            from luigi_guild.model.flags import decode_untyped

            parser = configparser.ConfigParser(interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep the case of option names
            parser.read_string(text)
            data = {s: {k: decode_untyped(v) for k, v in parser.items(s)} for s in parser.sections()}
    except Exception as e:  # every parser's own error class
        raise GuildError("cannot read config file %s: %s" % (path, str(e).splitlines()[0] if str(e) else e)) from None
    if not isinstance(data, dict):
        raise GuildError("config file %s must hold a mapping at the top level" % path)
    return data


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and scalars are values."""
    out: dict[str, Any] = {}
    for key, val in data.items():
        name = "%s%s" % (prefix, key)
        if isinstance(val, dict) and val:
            out.update(flatten(val, name + "."))
        else:
            out[name] = val
    return out


def read_flags(path: str) -> dict[str, FlagDef]:
    """One flag per (flattened) value in the config file, typed by its value."""
    flags = {}
    for name, val in flatten(load(path)).items():
        flags[name] = FlagDef.for_value(name, val)
    return dict(sorted(flags.items()))


def _set(data: dict[str, Any], dotted: str, val: Any) -> None:
    if dotted in data:  # a key that itself contains dots
        data[dotted] = val
        return
    head, dot, rest = dotted.partition(".")
    if dot and isinstance(data.get(head), dict):
        _set(data[head], rest, val)
    elif dot and head not in data:
        data[head] = {}
        _set(data[head], rest, val)
    else:
        data[dotted] = val


def write(src: str, dest: str, values: dict[str, Any]) -> None:
    """Write ``dest``: the config in ``src`` with ``values`` (dotted names) set; null values are left out."""
    data = load(src) if os.path.exists(src) else {}
    for name, val in sorted(values.items()):
        if val is not None:
            _set(data, name, val)
    kind = _kind(dest)
    if kind == "json":
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    elif kind == "yaml":
        import yaml

        text = yaml.safe_dump(data, default_flow_style=False, sort_keys=True)
    else:
        import configparser
        import io

        from luigi_guild.model.flags import format_val

        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        for section in sorted(data):
            opts = data[section]
            if not isinstance(opts, dict):
                continue
            parser[section] = {k: format_val(v) for k, v in sorted(opts.items())}
        buf = io.StringIO()
        parser.write(buf)
        text = buf.getvalue()
    if os.path.islink(dest):
        os.remove(dest)
    from luigi_guild.model.atomic import write_file_atomic

    write_file_atomic(dest, text)
