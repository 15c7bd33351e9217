"""Script operations: flags of a Python script, from its literal globals or its argparse options.

Globals are read with ``ast`` (the script is never imported); argparse
options come from running the script's parser in a child process
(:mod:`luigi_guild.project.flags_import`), cached by path and mtime.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from typing import Any

from luigi_guild.model.errors import GuildError
from luigi_guild.model.flags import FlagDef
from luigi_guild.model.opdef import OpDef
from luigi_guild.model.opref import OpRef


def script_op(path: str) -> OpDef:
    """The operation for a Python script at ``path``."""
    path = os.path.abspath(path)
    project_dir, script = os.path.split(path)
    try:
        with open(path, "rb") as f:
            source = f.read()
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        raise GuildError("cannot read flags from %s: syntax error on line %s" % (script, e.lineno)) from None
    except OSError as e:
        raise GuildError("cannot read %s: %s" % (script, e.strerror)) from None
    if imports_module(tree, "argparse"):
        flags = argparse_flags(path)
        dest = "args"
    else:
        flags = global_flags(tree)
        dest = "globals"
    return OpDef(
        opref=OpRef("script", project_dir, "", "", script),
        project_dir=project_dir,
        flags=flags,
        flags_dest=dest,
        main=script[:-3],
    )


def imports_module(tree: ast.Module, module: str) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == module for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == module:
            return True
    return False


def _literal(node: ast.AST) -> tuple[bool, Any]:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        return True, node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    ):
        v = node.operand.value
        return True, -v if isinstance(node.op, ast.USub) else v
    return False, None


def global_flags(tree: ast.Module) -> dict[str, FlagDef]:
    """Flags from module-level ``NAME = literal`` assignments (first one wins)."""
    flags: dict[str, FlagDef] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if name.startswith("_") or name in flags:
            continue
        ok, val = _literal(node.value)
        if not ok:
            continue
        if isinstance(val, bool):
            ftype = "boolean"
        elif isinstance(val, (int, float)):
            ftype = "number"
        elif isinstance(val, str):
            ftype = "string"
        else:
            ftype = None
        flags[name] = FlagDef(name, type=ftype, default=val)
    return dict(sorted(flags.items()))


def argparse_flags(path: str) -> dict[str, FlagDef]:
    """Flags from an argparse script's ``--long`` options (cached by path and mtime)."""
    import hashlib
    import subprocess

    from luigi_guild.model import home

    st = os.stat(path)
    key = hashlib.md5(path.encode()).hexdigest()
    cache_path = home.cache_dir("import-flags", key)
    stamp = "%s:%s" % (st.st_mtime_ns, st.st_size)
    data = None
    try:
        with open(cache_path) as f:
            cached = json.load(f)
        if cached.get("stamp") == stamp:
            data = cached["flags"]
    except (OSError, ValueError, KeyError):
        pass
    if data is None:
        proc = subprocess.run(
            [sys.executable, "-m", "luigi_guild.project.flags_import", path],
            cwd=os.path.dirname(path),
            capture_output=True,
            text=True,
            timeout=60,
        )
        try:
            data = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise GuildError("cannot read flags from %s: the script failed before parsing its arguments" % os.path.basename(path)) from None
        try:
            os.makedirs(os.path.dirname(cache_path), exist_ok=True)
            from luigi_guild.model.atomic import write_file_atomic

            write_file_atomic(cache_path, json.dumps({"stamp": stamp, "flags": data}))
        except OSError:
            pass
    flags = {}
    for name, spec in data.items():
        flags[name] = FlagDef(
            name,
            type=spec.get("type"),
            default=spec.get("default"),
            choices=spec.get("choices"),
            required=bool(spec.get("required")),
            description=spec.get("help") or "",
            arg_switch=spec.get("arg-switch"),
        )
    return dict(sorted(flags.items()))
