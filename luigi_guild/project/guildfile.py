"""guild.yml: operations defined in a project's Guild file.

Two shapes are read: a top-level mapping of operation names (one anonymous
model), and a top-level list of models, each with ``model:``,
``operations:`` and ``operation-defaults:``. A guild.yml operation records
the opref ``guildfile:<abs path> <md5 of the file> <model> <op>``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from dataclasses import dataclass
from typing import Any

from luigi_guild.model.errors import GuildError
from luigi_guild.model.flags import FLAG_TYPES, FlagDef
from luigi_guild.model.opdef import GUILD_STEPS_MAIN, FileRequirement, OpDef, Requirement
from luigi_guild.model.opref import OpRef
from luigi_guild.project import scripts

_FLAG_ATTRS = {
    "default",
    "type",
    "choices",
    "min",
    "max",
    "required",
    "arg-name",
    "arg-switch",
    "description",
    "env-name",
    "null-label",
    "alias",
}


@dataclass
class _Parsed:
    path: str
    digest: str
    ops: list[tuple[str, str, dict]]  # (model, op name, merged op data)
    models: list[tuple[str, str]]  # (model name, description) in file order; "" is the anonymous model


@dataclass
class ModelInfo:
    """A model of a guild.yml as ``guild models`` shows it."""

    name: str
    description: str
    operations: list[str]
    source: str


_cache: dict[str, tuple[tuple[int, int], _Parsed]] = {}


class GuildfileError(GuildError):
    """guild.yml cannot be read or has an invalid definition."""


def _error(path: str, msg: str) -> GuildfileError:
    return GuildfileError("error in %s: %s" % (path, msg))


# ------------------------------------------------------------------ loading


def _load(path: str) -> _Parsed:
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
        cached = _cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise GuildfileError("cannot read %s: %s" % (path, e.strerror)) from None
    import yaml

    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _error(path, "the file is not UTF-8 text") from None
    except RecursionError:
        raise _error(path, "invalid YAML: nested too deeply") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise _error(path, "invalid YAML%s: %s" % (where, problem)) from None
    try:
        ops = _ops_from_data(path, data)
    except RecursionError:
        raise _error(path, "invalid YAML: nested too deeply") from None
    parsed = _Parsed(path, hashlib.md5(raw).hexdigest(), ops, _models_from_data(data))
    _cache[path] = (stamp, parsed)
    return parsed


def _ops_from_data(path: str, data: Any) -> list[tuple[str, str, dict]]:
    if data is None:
        return []
    if isinstance(data, dict):
        found = _model_ops(path, data) if "model" in data or "operations" in data else _op_mapping(path, "", data, {})
        return [(model, name, _with_includes(path, model, name, op, {})) for model, name, op in found]
    if isinstance(data, list):
        ops: list[tuple[str, str, dict]] = []
        configs: dict[str, dict] = {}
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise _error(path, "item %d must be a mapping (a model with 'model:' and 'operations:')" % (i + 1))
            if "config" in item and "model" not in item and "operations" not in item:
                configs[str(item["config"])] = item
        for item in data:
            if "config" in item and "model" not in item and "operations" not in item:
                continue
            ops.extend(_model_ops(path, item))
        return [(model, name, _with_includes(path, model, name, op, configs)) for model, name, op in ops]
    raise _error(path, "expected a mapping of operations or a list of models, got %s" % _type_name(data))


def _models_from_data(data: Any) -> list[tuple[str, str]]:
    items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    models = []
    for item in items:
        if not isinstance(item, dict) or ("config" in item and "model" not in item and "operations" not in item):
            continue
        shaped = "model" in item or "operations" in item
        name = item.get("model") or "" if shaped else ""
        desc = item.get("description") if shaped else None
        models.append((str(name), str(desc).strip() if desc is not None else ""))
    return models


def _with_includes(path: str, model: str, name: str, op: dict, configs: dict[str, dict]) -> dict:
    """``op`` with ``$include`` in its ``flags`` replaced by the flags of the named ``config:`` items.

    Included flags come first; the operation's own flags (and later includes) override them.
    """
    flags = op.get("flags")
    if not isinstance(flags, dict) or "$include" not in flags:
        return op
    names = flags["$include"]
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list):
        raise _error(path, "$include in flags of operation '%s' must be a name or a list" % _opname(model, name))
    merged: dict = {}
    for cname in names:
        config = configs.get(str(cname))
        if config is None:
            raise _error(path, "operation '%s' includes unknown config '%s'" % (_opname(model, name), cname))
        included = config.get("flags") or {}
        if not isinstance(included, dict):
            raise _error(path, "flags of config '%s' must be a mapping" % cname)
        merged.update({k: v for k, v in included.items() if k != "$include"})
    merged.update({k: v for k, v in flags.items() if k != "$include"})
    return {**op, "flags": merged}


def _model_ops(path: str, item: dict) -> list[tuple[str, str, dict]]:
    model = item.get("model") or ""
    if not isinstance(model, str):
        raise _error(path, "model name must be a string, got %s" % _type_name(model))
    defaults = item.get("operation-defaults") or {}
    if not isinstance(defaults, dict):
        raise _error(path, "operation-defaults%s must be a mapping" % _for_model(model))
    ops = item.get("operations") or {}
    if not isinstance(ops, dict):
        raise _error(path, "operations%s must be a mapping of operation names" % _for_model(model))
    found = _op_mapping(path, model, ops, defaults)
    if "sourcecode" in item:  # the model's rules come before each operation's own
        found = [(m, n, {**op, _MODEL_SOURCECODE: item["sourcecode"]}) for m, n, op in found]
    return found


# Key under which a model's ``sourcecode:`` travels with each of its operations' data.
_MODEL_SOURCECODE = "$model-sourcecode"


def _sourcecode(path: str, opname: str, data: dict) -> dict:
    """The operation's source code settings: parsed model and operation configs, dest and root."""
    from luigi_guild.project import sourcecode

    try:
        model = sourcecode.parse_config(data.get(_MODEL_SOURCECODE))
        op = sourcecode.parse_config(data.get("sourcecode"))
    except sourcecode.SourceCodeError as e:
        raise _error(path, "operation '%s': %s" % (opname, e)) from None
    return {"model": model, "op": op, "dest": op.dest or model.dest or ".", "root": op.root or model.root}


def _for_model(model: str) -> str:
    return " for model '%s'" % model if model else ""


def _op_mapping(path: str, model: str, ops: dict, defaults: dict) -> list[tuple[str, str, dict]]:
    found = []
    for name, op in ops.items():
        if not isinstance(name, str) or not name:
            raise _error(path, "operation names must be strings, got %r" % (name,))
        if op is None:
            op = {}
        if isinstance(op, str):
            op = {"main": op}
        if not isinstance(op, dict):
            raise _error(path, "operation '%s' must be a mapping, got %s" % (_opname(model, name), _type_name(op)))
        merged = dict(defaults)
        merged.update(op)
        found.append((model, name, merged))
    return found


def _opname(model: str, op: str) -> str:
    return "%s:%s" % (model, op) if model else op


def _type_name(val: Any) -> str:
    if isinstance(val, list):
        return "a list"
    if isinstance(val, dict):
        return "a mapping"
    if isinstance(val, str):
        return "a string"
    return type(val).__name__


# --------------------------------------------------------------- public API


def list_ops(path: str) -> list[OpDef]:
    """Every operation in the guild.yml at ``path``, in file order."""
    parsed = _load(path)
    return [_opdef(parsed, model, name, data) for model, name, data in parsed.ops]


def list_models(path: str) -> list[ModelInfo]:
    """The models of the guild.yml at ``path`` (anonymous one included), in file order."""
    parsed = _load(path)
    out = []
    for name, desc in parsed.models:
        ops = sorted({op for model, op, _data in parsed.ops if model == name})
        out.append(ModelInfo(name, desc, ops, parsed.path))
    return out


def find_op(guildfile_path: str, opspec: str | None) -> OpDef | None:
    """The operation ``opspec`` (``op`` or ``model:op``) in ``guildfile_path``.

    ``opspec`` None picks the operation marked ``default: yes``, or the only
    operation. Returns None when nothing matches.
    """
    parsed = _load(guildfile_path)
    entry = _find_entry(parsed, opspec)
    if entry is None:
        return None
    return _opdef(parsed, *entry)


def op_section(guildfile_path: str, opspec: str | None, key: str) -> Any:
    """The raw value of ``key`` in operation ``opspec``'s definition (None when unset or no such operation).

    For settings this module does not interpret itself (a remote kind's own, like ``slurm:``).
    """
    entry = _find_entry(_load(guildfile_path), opspec)
    return None if entry is None else entry[2].get(key)


def _find_entry(parsed: _Parsed, opspec: str | None) -> tuple[str, str, dict] | None:
    if not opspec:
        defaults = [e for e in parsed.ops if _truthy(e[2].get("default"))]
        if defaults:
            return defaults[0]
        return parsed.ops[0] if len(parsed.ops) == 1 else None
    model, sep, op = opspec.rpartition(":")
    if sep:
        for entry in parsed.ops:
            if entry[0] == model and entry[1] == op:
                return entry
        return None
    candidates = [e for e in parsed.ops if e[1] == opspec]
    if not candidates:
        return None
    anon = [e for e in candidates if not e[0]]
    return (anon or candidates)[0]


def _truthy(val: Any) -> bool:
    return val is True or (isinstance(val, str) and val.lower() in ("yes", "true", "on"))


# ------------------------------------------------------------- op building


def _opdef(parsed: _Parsed, model: str, name: str, data: dict) -> OpDef:
    path = parsed.path
    project_dir = os.path.dirname(path)
    opname = _opname(model, name)
    main = data.get("main")
    exec_ = data.get("exec")
    if main is not None and not isinstance(main, str):
        raise _error(path, "'main' for operation '%s' must be a string" % opname)
    if exec_ is not None and not isinstance(exec_, str):
        raise _error(path, "'exec' for operation '%s' must be a string" % opname)
    if exec_:
        try:
            shlex.split(exec_)
        except ValueError as e:
            raise _error(path, "invalid 'exec' for operation '%s': %s" % (opname, e)) from None
    if main and exec_:
        raise _error(path, "operation '%s' cannot define both 'main' and 'exec'" % opname)
    steps = _steps(path, opname, data.get("steps"))
    if steps is not None:
        if main or exec_:
            raise _error(path, "operation '%s' cannot define both 'steps' and '%s'" % (opname, "main" if main else "exec"))
        # Guild's steps runner; the command builder runs ours in its place.
        exec_ = "${python_exe} -um %s" % GUILD_STEPS_MAIN
    if not main and not exec_:
        main = name
    main_module, main_args = _split_main(path, opname, main) if main else (None, [])
    dest = data.get("flags-dest")
    if dest is not None and not (
        dest in ("globals", "args")
        or isinstance(dest, str) and dest.partition(":")[0] in ("config", "global") and dest.partition(":")[2]
    ):
        raise _error(
            path,
            "flags-dest for operation '%s' must be 'globals', 'args', 'global:NAME' or 'config:FILE', got %r"
            % (opname, dest),
        )
    imported, detected_dest = _imported_flags(path, project_dir, opname, main_module, data)
    declared = _declared_flags(path, opname, data.get("flags"))
    flags: dict[str, FlagDef] = {}
    for fname, fd in imported.items():
        flags[fname] = fd
    for fname, (fd, attrs) in declared.items():
        base = flags.get(fname)
        flags[fname] = _merge_flag(base, fd, attrs) if base else fd
    label = data.get("label")
    if label is not None and not isinstance(label, str):
        raise _error(path, "label for operation '%s' must be a string" % opname)
    requires, file_requires = _requirements(path, opname, model, data.get("requires"))
    _add_dep_flags(flags, requires)
    opdef = OpDef(
        opref=OpRef("guildfile", path, parsed.digest, model, name),
        project_dir=project_dir,
        flags=dict(sorted(flags.items())),
        flags_dest=dest or (detected_dest if main_module else "args"),
        main=_main_text(main_module, main_args) if main_module else None,
        exec_=exec_,
        label_template=label,
        requires=requires,
        file_requires=file_requires,
        description=str(data.get("description") or "").strip().split("\n")[0],
        details=str(data.get("description") or "").strip().split("\n")[1:],
        objective=data.get("objective"),
        optimizers=data.get("optimizers", data.get("optimizer")),
        output_scalars=_output_scalars(path, opname, data),
        compare=_compare_specs(path, opname, data),
        delete_on_success=_truthy(data.get("delete-on-success")),
        run_attrs={**_run_attrs(path, opname, data.get("run-attrs")), **({"steps": steps} if steps is not None else {})},
        sourcecode=_sourcecode(path, opname, data),
        env=_op_env(path, opname, data.get("env")),
    )
    return opdef


def _op_env(path: str, opname: str, spec: Any) -> dict[str, str]:
    """An operation's ``env``: variables set for its process (and shown by ``--print-env``)."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise _error(path, "env for operation '%s' must be a mapping of names to values" % opname)
    return {str(k): "" if v is None else _env_text(v) for k, v in spec.items()}


def _env_text(val: Any) -> str:
    if isinstance(val, bool):
        return "yes" if val else "no"
    return str(val)


# Keys a step may give besides ``run`` (each becomes the ``guild run`` option of that name).
STEP_KEYS = {
    "run", "name", "flags", "needed", "isolate-runs", "label", "tags", "force-flags", "fail-on-trial-error",
    "max-trials", "optimizer", "random-seed", "batch-label", "batch-tags",
}


def _steps(path: str, opname: str, val: Any) -> list | None:
    """``steps:``: a list of ``"OP FLAG=VAL..."`` strings or mappings with ``run`` (kept as written)."""
    if val is None:
        return None
    if not isinstance(val, list) or not val:
        raise _error(path, "steps for operation '%s' must be a non-empty list" % opname)
    for step in val:
        spec = step.get("run") if isinstance(step, dict) else step
        if not isinstance(spec, str) or not spec.strip():
            raise _error(path, "invalid step %r in operation '%s': a step needs an operation to run" % (step, opname))
        try:
            shlex.split(spec)
        except ValueError as e:
            raise _error(path, "invalid step %r in operation '%s': %s" % (spec, opname, e)) from None
        if isinstance(step, dict):
            unknown = sorted(set(step) - STEP_KEYS)
            if unknown:
                raise _error(path, "invalid step %r in operation '%s': unknown key '%s'" % (spec, opname, unknown[0]))
            if "flags" in step and not isinstance(step["flags"], (dict, list)):
                raise _error(path, "invalid step %r in operation '%s': flags must be a mapping or a list" % (spec, opname))
    return val


def _output_scalars(path: str, opname: str, data: dict) -> Any:
    from luigi_guild.model.outputscalars import OutputScalarsError, coerce_config

    try:
        return coerce_config(data.get("output-scalars"))
    except OutputScalarsError as e:
        raise _error(path, "operation '%s': %s" % (opname, e)) from None


def _compare_specs(path: str, opname: str, data: dict) -> list[str] | None:
    val = data.get("compare")
    if val is None:
        return None
    if isinstance(val, str):
        val = [val]
    if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
        raise _error(path, "'compare' for operation '%s' must be a list of column specs" % opname)
    return list(val)


def _run_attrs(path: str, opname: str, attrs: Any) -> dict:
    """``run-attrs``: extra attributes written into each run of the operation."""
    if attrs is None:
        return {}
    if not isinstance(attrs, dict) or not all(isinstance(k, str) and k for k in attrs):
        raise _error(path, "run-attrs for operation '%s' must be a mapping of attribute names" % opname)
    reserved = sorted(set(attrs) & _RESERVED_ATTRS)
    if reserved:
        raise _error(path, "run-attrs for operation '%s' cannot set '%s'" % (opname, reserved[0]))
    return dict(attrs)


# Attributes the run machinery writes itself.
_RESERVED_ATTRS = {
    "id", "initialized", "flags", "user_flags", "label", "tags", "cmd", "op", "run_params", "host", "user",
    "platform", "started", "stopped", "exit_status", "env", "sourcecode_digest", "deps", "comments", "marked",
}


def _main_text(module: str, args: list[str]) -> str:
    return " ".join([module] + [shlex.quote(a) for a in args])


def _split_main(path: str, opname: str, main: str) -> tuple[str, list[str]]:
    try:
        parts = shlex.split(main)
    except ValueError as e:
        raise _error(path, "invalid 'main' for operation '%s': %s" % (opname, e)) from None
    if not parts:
        raise _error(path, "'main' for operation '%s' is empty" % opname)
    module = parts[0]
    if module.endswith(".py"):
        module = module[:-3]
    return module.replace("/", "."), parts[1:]


def _module_path(project_dir: str, module: str) -> str | None:
    candidate = os.path.join(project_dir, *module.split(".")) + ".py"
    return candidate if os.path.isfile(candidate) else None


def _imported_flags(
    path: str, project_dir: str, opname: str, module: str | None, data: dict
) -> tuple[dict[str, FlagDef], str]:
    """Flags imported from the main module per ``flags-import``, and its flags dest."""
    spec = data.get("flags-import", None)
    declared = data.get("flags") or {}
    if spec is None:
        wanted: set[str] | None = set(declared) if isinstance(declared, dict) else set()
    elif spec is True or spec in ("yes", "all"):
        wanted = None
    elif spec is False or spec in ("no", "off") or spec == []:
        wanted = set()
    elif isinstance(spec, list) and all(isinstance(s, str) for s in spec):
        wanted = set(spec)
    elif isinstance(spec, str):
        wanted = {spec}
    else:
        raise _error(path, "flags-import for operation '%s' must be yes, no or a list of flag names" % opname)
    skip = data.get("flags-import-skip") or []
    if not isinstance(skip, list):
        raise _error(path, "flags-import-skip for operation '%s' must be a list" % opname)
    dest_spec = data.get("flags-dest")
    if isinstance(dest_spec, str) and dest_spec.startswith("config:"):
        from luigi_guild.project import configflags

        if wanted is not None and not wanted:
            return {}, dest_spec
        try:
            found = configflags.read_flags(os.path.join(project_dir, dest_spec[len("config:") :]))
        except GuildError as e:
            raise _error(path, "operation '%s': %s" % (opname, e.message)) from None
        return {n: fd for n, fd in found.items() if (wanted is None or n in wanted) and n not in skip}, dest_spec
    script = _module_path(project_dir, module) if module else None
    if script is None:
        return {}, "globals"
    import ast

    try:
        with open(script, "rb") as f:
            tree = ast.parse(f.read(), filename=script)
    except (OSError, SyntaxError):
        return {}, "globals"
    if isinstance(dest_spec, str) and dest_spec.startswith("global:"):
        if wanted is not None and not wanted:
            return {}, dest_spec
        found = scripts.dict_global_flags(tree, dest_spec[len("global:") :])
        return {n: fd for n, fd in found.items() if (wanted is None or n in wanted) and n not in skip}, dest_spec
    uses_argparse = scripts.imports_module(tree, "argparse")
    uses_click = not uses_argparse and scripts.imports_module(tree, "click")
    dest = "args" if uses_argparse or uses_click else "globals"
    if wanted is not None and not wanted:
        return {}, dest
    if uses_click:
        found = scripts.click_flags(tree)
    else:
        found = scripts.argparse_flags(script) if uses_argparse else scripts.global_flags(tree)
    return {n: fd for n, fd in found.items() if (wanted is None or n in wanted) and n not in skip}, dest


def _is_date(val: Any) -> bool:
    """Whether ``val`` is a date or date-time (as YAML reads ``2024-01-02``)."""
    import datetime

    return isinstance(val, datetime.date)


def _declared_flags(path: str, opname: str, flags: Any) -> dict[str, tuple[FlagDef, dict]]:
    if flags is None:
        return {}
    if not isinstance(flags, dict):
        raise _error(path, "flags for operation '%s' must be a mapping" % opname)
    out = {}
    for fname, spec in flags.items():
        if not isinstance(fname, str):
            raise _error(path, "flag names for operation '%s' must be strings, got %r" % (opname, fname))
        if fname.startswith("$"):
            continue
        if isinstance(spec, dict):
            attrs = dict(spec)
        elif _is_date(spec):
            # As Guild: a bare YAML date is not a flag default (``default: 2024-01-02`` is).
            raise _error(path, "invalid value for %s flag %r: expected a mapping of flag attributes or default "
                         "flag value" % (fname, spec))
        else:
            attrs = {"default": spec}
        unknown = sorted(set(attrs) - _FLAG_ATTRS)
        if unknown:
            attrs = {k: v for k, v in attrs.items() if k in _FLAG_ATTRS}
        ftype = attrs.get("type")
        if ftype is not None and ftype not in FLAG_TYPES:
            raise _error(
                path,
                "invalid type %r for flag '%s' in operation '%s' (expected one of: %s)"
                % (ftype, fname, opname, ", ".join(FLAG_TYPES)),
            )
        choices = attrs.get("choices")
        extra: dict[str, Any] = {}
        if choices is not None:
            if not isinstance(choices, list):
                raise _error(path, "choices for flag '%s' in operation '%s' must be a list" % (fname, opname))
            aliases = {str(c["alias"]): c.get("value") for c in choices if isinstance(c, dict) and "alias" in c}
            shown = [
                (str(c.get("alias", c.get("value"))), str(c.get("description") or "")) if isinstance(c, dict)
                else (str(c), "")
                for c in choices
            ]
            if aliases:
                extra["choice_aliases"] = aliases
            if aliases or any(desc for _, desc in shown):
                extra["choice_help"] = shown
            choices = [c.get("value") if isinstance(c, dict) else c for c in choices]
            attrs["choices"] = choices
        for bound in ("min", "max"):
            val = attrs.get(bound)
            if val is not None and (isinstance(val, bool) or not isinstance(val, (int, float))):
                raise _error(path, "%s for flag '%s' in operation '%s' must be a number" % (bound, fname, opname))
        arg_name = attrs.get("arg-name")
        if arg_name is not None and not isinstance(arg_name, str):
            raise _error(path, "arg-name for flag '%s' in operation '%s' must be a string" % (fname, opname))
        alias = attrs.get("alias")
        if alias is not None:
            if not isinstance(alias, str) or not alias:
                raise _error(path, "alias for flag '%s' in operation '%s' must be a string" % (fname, opname))
            extra["alias"] = alias
        fd = FlagDef(
            fname,
            extra=extra,
            type=ftype,
            default=attrs.get("default"),
            choices=choices,
            min=attrs.get("min"),
            max=attrs.get("max"),
            required=bool(attrs.get("required")),
            description=str(attrs.get("description") or ""),
            arg_name=arg_name,
            arg_switch=attrs.get("arg-switch"),
        )
        if fd.default is not None and ftype is not None:
            from luigi_guild.model import flags as flagslib

            try:
                fd.default = flagslib.coerce(fd.default, fd)
            except GuildError as e:
                raise _error(path, "default for flag '%s' in operation '%s': %s" % (fname, opname, e.message)) from None
        out[fname] = (fd, attrs)
    return out


def _merge_flag(base: FlagDef, declared: FlagDef, attrs: dict) -> FlagDef:
    """An imported flag overridden by the attributes guild.yml declares."""
    merged = FlagDef(
        base.name,
        type=base.type,
        default=base.default,
        choices=base.choices,
        min=base.min,
        max=base.max,
        required=base.required,
        description=base.description,
        arg_name=base.arg_name,
        arg_switch=base.arg_switch,
        extra={**base.extra, **declared.extra},
    )
    mapping = {"arg-name": "arg_name", "arg-switch": "arg_switch"}
    for key in attrs:
        attr = mapping.get(key, key)
        if hasattr(merged, attr):
            setattr(merged, attr, getattr(declared, attr))
    return merged


def _requirements(
    path: str, opname: str, model: str, requires: Any
) -> tuple[list[Requirement], list[FileRequirement]]:
    """An operation's ``requires``: its ``operation:`` entries and its ``file:`` entries."""
    if requires is None:
        return [], []
    if isinstance(requires, dict):
        requires = [requires]
    if not isinstance(requires, list):
        raise _error(path, "requires for operation '%s' must be a list" % opname)
    reqs = []
    files = []
    for position, entry in enumerate(requires):
        if isinstance(entry, dict) and "file" in entry and "operation" not in entry:
            files.append(_file_requirement(path, opname, entry, position))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("operation"), str):
            raise _error(
                path,
                "each requires entry of operation '%s' must be a mapping with 'operation: NAME' "
                "or 'file: PATH' (other dependency kinds are not supported)" % opname,
            )
        opspec = entry["operation"]
        if model and ":" not in opspec:
            opspec = "%s:%s" % (model, opspec)
        select = entry.get("select") or []
        if isinstance(select, str):
            select = [select]
        if not isinstance(select, list) or not all(isinstance(s, str) for s in select):
            raise _error(path, "select in requires of operation '%s' must be a pattern or a list" % opname)
        for pattern in select:
            try:
                re.compile(pattern)
            except (re.error, RecursionError) as e:
                raise _error(path, "invalid select pattern '%s' in requires of operation '%s': %s" % (pattern, opname, e)) from None
        names = {}
        for key in ("name", "flag-name"):
            val = entry.get(key)
            if val is not None and (not isinstance(val, str) or not val):
                raise _error(path, "%s in requires of operation '%s' must be a non-empty string" % (key, opname))
            names[key] = val
        reqs.append(
            Requirement(
                opspec=opspec,
                spec=entry["operation"],
                name=names["name"],
                select=list(select),
                flag_name=names["flag-name"],
                position=position,
            )
        )
    return reqs, files


def _file_requirement(path: str, opname: str, entry: dict, position: int) -> FileRequirement:
    """One ``file: PATH`` entry of ``requires`` (checked; resolved when a run is made)."""
    where = "in requires of operation '%s'" % opname
    file_path = entry.get("file")
    if not isinstance(file_path, str) or not file_path:
        raise _error(path, "file %s must be a non-empty path" % where)
    select = entry.get("select") or []
    if isinstance(select, str):
        select = [select]
    if not isinstance(select, list) or not all(isinstance(p, str) for p in select):
        raise _error(path, "select %s must be a pattern or a list" % where)
    for pattern in select:
        try:
            re.compile(pattern)
        except (re.error, RecursionError) as e:
            raise _error(path, "invalid select pattern '%s' %s: %s" % (pattern, where, e)) from None
    texts: dict[str, str | None] = {}
    for key in ("name", "target-path", "target-type"):
        val = entry.get(key)
        if val is not None and (not isinstance(val, str) or not val):
            raise _error(path, "%s %s must be a non-empty string" % (key, where))
        texts[key] = val
    rename = entry.get("rename")
    if rename is None:
        rename = []
    elif not isinstance(rename, list):
        rename = [rename]
    return FileRequirement(
        path=file_path,
        name=texts["name"],
        select=list(select),
        target_path=texts["target-path"] or "",
        target_type=texts["target-type"],
        rename=[_rename_spec(path, spec) for spec in rename],
        position=position,
    )


def _rename_spec(path: str, spec: Any) -> tuple[str, str]:
    """A ``rename`` item: ``'PATTERN REPL'``, a bare new ``NAME``, or ``{pattern: ..., repl: ...}``."""
    if isinstance(spec, dict):
        return str(spec.get("pattern", "")), str(spec.get("repl", ""))
    if isinstance(spec, str):
        try:
            parts = shlex.split(spec)
        except ValueError:
            parts = []
        if len(parts) == 2:
            return parts[0], parts[1]
        if len(parts) == 1:
            return ".*", parts[0]
    raise _error(path, "invalid rename spec %r: expected 'PATTERN REPL' or 'NAME'" % (spec,))


def _add_dep_flags(flags: dict[str, FlagDef], reqs: list[Requirement]) -> None:
    """Give each requirement its flag (a string flag with no default, never passed to the script)."""
    declared = set(flags)
    for req in reqs:
        name = req.flag(declared)
        if name not in flags:
            flags[name] = FlagDef(name, type="string", arg_skip=True)
