"""Operations: what ``guild run OPSPEC`` resolves to, and the command it runs.

Script operations (``guild run train.py``) take their flags from module-level
literal globals (read with ``ast``, never imported) or, for scripts that use
argparse, from the parser's options.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from luigi_guild.model.errors import GuildError
from luigi_guild.model.flags import FlagDef
from luigi_guild.model.opref import OpRef

FLAG_ARGS_MARKER = "__flag_args__"


@dataclass
class OpDef:
    """A resolved operation: identity, flags and how to start it."""

    opref: OpRef
    project_dir: str
    flags: dict[str, FlagDef]
    flags_dest: str = "globals"
    main: str | None = None
    exec_: str | None = None
    label_template: str | None = None
    requires: list = field(default_factory=list)
    sourcecode: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    description: str = ""

    @property
    def name(self) -> str:
        return self.opref.display

    def cmd_template(self) -> list[str]:
        """The command with ``__flag_args__`` standing for the flag arguments."""
        if self.exec_:
            import shlex

            parts = []
            for part in shlex.split(self.exec_):
                if part == "${flag_args}":
                    parts.append(FLAG_ARGS_MARKER)
                elif part == "${python_exe}":
                    parts.append("${python_exe}")
                else:
                    parts.append(part)
            return parts
        import shlex

        main = shlex.split(self.main or "") or [""]
        return ["${python_exe}", "-um", "luigi_guild.op_main", *main, FLAG_ARGS_MARKER]

    def op_attr(self) -> dict[str, Any]:
        """The ``op`` attr: everything needed to restart the run without the project."""
        cmd_flags = {}
        for name, fd in self.flags.items():
            entry = {}
            if fd.arg_name:
                entry["arg-name"] = fd.arg_name
            if fd.arg_switch is not None:
                entry["arg-switch"] = fd.arg_switch
            if fd.type:
                entry["type"] = fd.type
            if entry:
                cmd_flags[name] = entry
        attr: dict[str, Any] = {
            "op-cmd": {
                "cmd-args": self.cmd_template(),
                "cmd-env": {"FLAGS_DEST": self.flags_dest, **self.env},
                "cmd-flags": cmd_flags,
                "flags-dest": self.flags_dest,
            },
            "sourcecode": {"dest": ".", "root": self.project_dir},
        }
        if self.label_template:
            attr["label-template"] = self.label_template
        return attr


# ------------------------------------------------------------ command lines


def flag_args(flags: dict[str, Any], dest: str, cmd_flags: dict[str, dict] | None = None) -> list[str]:
    """Flag values as ``--name value`` arguments for the operation's process."""
    cmd_flags = cmd_flags or {}
    args: list[str] = []
    for name in sorted(flags):
        val = flags[name]
        spec = cmd_flags.get(name, {})
        arg_name = spec.get("arg-name") or name
        if dest == "globals":
            args.extend(["--" + arg_name, json.dumps(val)])
            continue
        if val is None:
            continue
        switch = spec.get("arg-switch")
        if switch is not None:
            if val == switch:
                args.append("--" + arg_name)
            continue
        if isinstance(val, bool):
            args.extend(["--" + arg_name, "1" if val else ""])
        elif isinstance(val, float):
            args.extend(["--" + arg_name, repr(val)])
        else:
            args.extend(["--" + arg_name, str(val)])
    return args


def build_cmd(op_attr: dict[str, Any], flags: dict[str, Any]) -> list[str]:
    """The argv to run, from an ``op`` attr and flag values."""
    op_cmd = op_attr.get("op-cmd") or {}
    dest = op_cmd.get("flags-dest", "globals")
    fargs = flag_args(flags, dest, op_cmd.get("cmd-flags"))
    cmd: list[str] = []
    for part in op_cmd.get("cmd-args") or []:
        if part == FLAG_ARGS_MARKER:
            cmd.extend(fargs)
        else:
            cmd.append(_resolve_refs(part.replace("${python_exe}", sys.executable), flags))
    return cmd


_REF_RE = None


def _resolve_refs(part: str, flags: dict[str, Any]) -> str:
    """Replace ``${name}`` references to flags in one command part (others stay as written)."""
    if "${" not in part:
        return part
    import re

    from luigi_guild.model.flags import env_val

    global _REF_RE
    if _REF_RE is None:
        _REF_RE = re.compile(r"\$\{([^}]+)\}")
    return _REF_RE.sub(lambda m: env_val(flags[m.group(1)]) if m.group(1) in flags else m.group(0), part)


# ------------------------------------------------------------- resolution


def resolve(opspec: str | None, cwd: str | None = None) -> OpDef:
    """Resolve ``opspec`` in ``cwd``: a guild.yml operation, else a Python script."""
    cwd = os.path.abspath(cwd or os.getcwd())
    if opspec and opspec.endswith(".py") and os.path.isfile(os.path.join(cwd, opspec)):
        return script_op(os.path.join(cwd, opspec))
    guildfile = os.path.join(cwd, "guild.yml")
    if os.path.isfile(guildfile):
        from luigi_guild.project import guildfile as gf

        opdef = gf.find_op(guildfile, opspec)
        if opdef is not None:
            return opdef
    if not opspec:
        raise GuildError("cannot find a default operation", hint="Try 'guild operations' for a list.")
    if os.path.isfile(os.path.join(cwd, opspec)) and opspec.endswith(".py"):
        return script_op(os.path.join(cwd, opspec))
    raise GuildError(
        "cannot find operation %s" % opspec,
        hint="You may need to include a model in the form MODEL:OPERATION. "
        "Try 'guild operations' for a list of available operations.",
    )


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
    if _imports(tree, "argparse"):
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


def _imports(tree: ast.Module, module: str) -> bool:
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
            from luigi_guild.store.rundir import write_file_atomic

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
