"""Script operations: flags of a Python script, from its literal globals, argparse or Click options.

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
    elif imports_module(tree, "click"):
        flags = click_flags(tree)
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
        flags[name] = FlagDef.for_value(name, val)
    return dict(sorted(flags.items()))


def argparse_flags(path: str) -> dict[str, FlagDef]:
    """Flags from an argparse script's ``--long`` options (cached by path and mtime)."""
    import hashlib
    import subprocess

    from luigi_guild.model import home

    st = os.stat(path)
    key = hashlib.md5(path.encode()).hexdigest()
    # Not guildai's ``import-flags`` dir: it keys its own cache the same way, in another format.
    cache_path = home.cache_dir("luigi-guild-import-flags", key)
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


def _literal_value(node: ast.AST) -> tuple[bool, Any]:
    """A literal scalar, or a list of them (``ast.literal_eval`` without its exceptions)."""
    ok, val = _literal(node)
    if ok:
        return ok, val
    if isinstance(node, ast.List):
        items = [_literal(e) for e in node.elts]
        if all(ok for ok, _ in items):
            return True, [v for _, v in items]
    return False, None


def dict_global_flags(tree: ast.Module, global_name: str) -> dict[str, FlagDef]:
    """Flags from the literal dict assigned to module global ``global_name`` (nested keys dotted)."""

    def walk(node: ast.Dict, prefix: str, out: dict[str, FlagDef]) -> None:
        for key, value in zip(node.keys, node.values):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                continue
            name = prefix + key.value
            if isinstance(value, ast.Dict):
                walk(value, name + ".", out)
                continue
            ok, val = _literal_value(value)
            if ok:
                out[name] = FlagDef.for_value(name, val)

    flags: dict[str, FlagDef] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == global_name
            and isinstance(node.value, ast.Dict)
        ):
            walk(node.value, "", flags)
            break
    return dict(sorted(flags.items()))


_CLICK_TYPES = {"int": "int", "float": "float", "str": "string", "bool": "boolean", "INT": "int", "FLOAT": "float"}


def click_flags(tree: ast.Module) -> dict[str, FlagDef]:
    """Flags from ``@click.option("--name", ...)`` decorators of a Click command (read with ``ast``).

    ``default``, ``type`` (int, float, str, bool, ``click.Choice([...])``),
    ``help``, ``required`` and ``is_flag`` are read when written as literals.
    """
    flags: dict[str, FlagDef] = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and _dotted(deco.func) in ("click.option", "option")):
                continue
            names = [a.value for a in deco.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            longs = [n for n in names if n.startswith("--")]
            if not longs:
                continue
            opt = longs[0][2:].split("/")[0]
            kw = {k.arg: k.value for k in deco.keywords if k.arg}
            ok, default = _literal_value(kw["default"]) if "default" in kw else (True, None)
            if not ok:
                default = None
            ftype: str | None = None
            choices = None
            type_node = kw.get("type")
            if type_node is not None:
                tname = _dotted(type_node)
                ftype = _CLICK_TYPES.get(tname.rsplit(".", 1)[-1]) if tname else None
                if isinstance(type_node, ast.Call) and _dotted(type_node.func) in ("click.Choice", "Choice"):
                    ok_c, vals = _literal_value(type_node.args[0]) if type_node.args else (False, None)
                    choices = vals if ok_c else None
            is_flag = "is_flag" in kw and _literal(kw["is_flag"]) == (True, True)
            if is_flag:
                ftype, default = "boolean", bool(default)
            elif ftype is None and default is not None:
                ftype = FlagDef.for_value(opt, default).type
            ok_h, help_text = _literal(kw["help"]) if "help" in kw else (False, "")
            required = "required" in kw and _literal(kw["required"]) == (True, True)
            flags[opt] = FlagDef(
                opt,
                type=ftype,
                default=default,
                choices=choices,
                required=required,
                description=str(help_text) if ok_h and help_text else "",
                arg_switch=True if is_flag else None,
            )
    return dict(sorted(flags.items()))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return base + "." + node.attr if base else ""
    return ""
