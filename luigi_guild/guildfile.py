"""guild.yml operations (minimal reader, enough for remote runs of guild.yml ops).

NOTE for integration: the ``pipelines`` branch owns the full version of this
module (models, ``requires``, imports, ...). This one keeps the same API,
:func:`find_op`, and reads:

* a top-level mapping of operation names (one anonymous model), or a
  top-level list of ``model:`` items with ``operations:``;
* per operation: ``main`` (module, optionally followed by arguments),
  ``flags`` (scalar defaults or mappings with ``default``/``type``/
  ``choices``/``arg-name``/...), ``flags-dest``, ``flags-import``
  (``no``/``[]`` = none, ``yes``/``all`` = every global of the main module,
  a list = those names, unset = only the declared ones), ``label``.

A guild.yml operation records the opref
``guildfile:<abs path> <md5 of the file> <model> <op>``.
"""

from __future__ import annotations

import ast
import hashlib
import os
from typing import Any

from luigi_guild.errors import GuildError
from luigi_guild.flags import FlagDef
from luigi_guild.operations import OpDef, global_flags
from luigi_guild.opref import OpRef

_FLAG_KEYS = {"type", "choices", "min", "max", "required", "description", "arg-name", "arg-switch"}


def _load(path: str) -> tuple[Any, str]:
    import yaml

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise GuildError("cannot read %s: %s" % (path, e.strerror)) from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise GuildError("error in %s: %s" % (path, " ".join(str(e).split()))) from None
    return data, hashlib.md5(raw).hexdigest()


def _entries(path: str, data: Any) -> list[tuple[str, str, dict]]:
    """(model, op name, op data) for every operation in the file."""
    if data is None:
        return []
    if isinstance(data, dict):
        if "model" in data or "operations" in data:
            data = [data]
        else:
            return [(("", str(name), op or {})) for name, op in data.items()]
    if not isinstance(data, list):
        raise GuildError("error in %s: expected a mapping of operations or a list of models" % path)
    found = []
    for item in data:
        if not isinstance(item, dict):
            raise GuildError("error in %s: each top-level item must be a mapping" % path)
        model = str(item.get("model") or "")
        for name, op in (item.get("operations") or {}).items():
            found.append((model, str(name), op or {}))
    return found


def find_op(guildfile_path: str, opspec: str | None) -> OpDef | None:
    """The operation ``opspec`` (``op`` or ``model:op``; None = the default op) or None."""
    path = os.path.abspath(guildfile_path)
    data, digest = _load(path)
    entries = _entries(path, data)
    chosen = None
    for model, name, op in entries:
        if not isinstance(op, dict):
            raise GuildError("error in %s: operation %s must be a mapping" % (path, name))
        if opspec is None:
            if op.get("default") or len(entries) == 1:
                chosen = (model, name, op)
                break
        elif opspec in (name, "%s:%s" % (model, name)):
            chosen = (model, name, op)
            break
    if chosen is None:
        return None
    model, name, op = chosen
    return _opdef(path, digest, model, name, op)


def _opdef(path: str, digest: str, model: str, name: str, op: dict) -> OpDef:
    project_dir = os.path.dirname(path)
    main = str(op.get("main") or name).split()[0] if op.get("main") or not op.get("exec") else None
    declared = op.get("flags") or {}
    if not isinstance(declared, dict):
        raise GuildError("error in %s: flags of operation %s must be a mapping" % (path, name))
    flags: dict[str, FlagDef] = {}
    for fname, imported in _imported_flags(project_dir, main, op.get("flags-import"), declared).items():
        flags[fname] = imported
    for fname, spec in declared.items():
        flags[str(fname)] = _flagdef(str(fname), spec, flags.get(str(fname)))
    return OpDef(
        opref=OpRef("guildfile", path, digest, model, name),
        project_dir=project_dir,
        flags=dict(sorted(flags.items())),
        flags_dest=str(op.get("flags-dest") or "globals"),
        main=main,
        exec_=op.get("exec"),
        label_template=op.get("label"),
    )


def _flagdef(name: str, spec: Any, base: FlagDef | None) -> FlagDef:
    fd = base or FlagDef(name)
    if not isinstance(spec, dict):
        fd.default = spec
        if fd.type is None and isinstance(spec, bool):
            fd.type = "boolean"
        return fd
    if "default" in spec:
        fd.default = spec["default"]
    for key in _FLAG_KEYS & set(spec):
        setattr(fd, key.replace("-", "_"), spec[key])
    fd.required = bool(fd.required)
    fd.description = str(fd.description or "")
    return fd


def _imported_flags(project_dir: str, main: str | None, setting: Any, declared: dict) -> dict[str, FlagDef]:
    if main is None or setting in (False, "no", []):
        return {}
    script = os.path.join(project_dir, *main.split(".")) + ".py"
    try:
        with open(script, "rb") as f:
            tree = ast.parse(f.read(), filename=script)
    except (OSError, SyntaxError):
        return {}
    found = global_flags(tree)
    if setting in (True, "yes", "all"):
        return found
    names = set(setting) if isinstance(setting, list) else set(declared)
    return {k: v for k, v in found.items() if k in names}
