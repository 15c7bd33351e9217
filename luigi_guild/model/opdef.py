"""Operation definitions as data: what an operation is, its ``op`` attr and its command line.

No I/O: :mod:`luigi_guild.project` builds these from scripts and guild.yml;
the run layer turns them into command lines with :func:`build_cmd`.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from luigi_guild.model.flags import FlagDef
from luigi_guild.model.opref import OpRef

@dataclass
class Requirement:
    """One ``requires`` entry naming an upstream operation.

    ``opspec`` is the operation to look up (qualified with the model), ``spec``
    the text written after ``operation:``, ``name`` the requirement's ``name:``
    and ``flag_name`` its ``flag-name:`` (None when not given).
    """

    opspec: str
    spec: str = ""
    name: str | None = None
    select: list[str] = field(default_factory=list)
    flag_name: str | None = None
    position: int = 0  # its place in the operation's ``requires`` list (dependencies resolve in that order)

    @property
    def uri(self) -> str:
        """The source uri Guild records: ``operation:<spec as written>``."""
        return "operation:" + (self.spec or self.opspec)

    @property
    def resource_name(self) -> str:
        """The requirement's resolving name, as Guild names it: ``name:``, else ``flag-name:``, else the uri.

        Its keys in the ``deps`` attr (resource and source) and its lines in
        ``guild run``'s output (``Resolving NAME``) use it.
        """
        return self.name or self.flag_name or self.uri

    def flag(self, declared: Any = ()) -> str:
        """The name of the flag that records the chosen upstream run (see :func:`dep_flag_name`)."""
        from luigi_guild.model.flagid import dep_flag_name

        return dep_flag_name(self.uri, self.name, self.flag_name, declared)


@dataclass
class FileRequirement:
    """One ``requires`` entry naming a project file or directory (``file: PATH``), resolved as Guild does.

    ``path`` is relative to the guild.yml directory; ``select`` patterns pick
    paths under a directory; ``target_path`` is the run subdirectory it goes
    to; ``target_type`` is ``copy`` (Guild's default) or ``link``; ``rename``
    holds ``(pattern, replacement)`` pairs tried in order on each base name.
    """

    path: str
    name: str | None = None
    select: list[str] = field(default_factory=list)
    target_path: str = ""
    target_type: str | None = None
    rename: list[tuple[str, str]] = field(default_factory=list)
    # ``guild run -D PATH``: the resource is named PATH and resolved from ``location`` (the cwd).
    resource: str | None = None
    location: str | None = None
    position: int = 0  # its place in the operation's ``requires`` list (``-D`` entries come after it)

    @property
    def uri(self) -> str:
        """The source uri Guild records: ``file:<path as written>``."""
        return "file:" + self.path

    @property
    def resource_name(self) -> str:
        """Its key in the ``deps`` attr and its ``Resolving NAME`` line: ``name:``, else the uri."""
        return self.resource or self.name or self.uri

    @property
    def source_name(self) -> str:
        """Its source's key under the resource in the ``deps`` attr: ``name:``, else the uri."""
        return self.name or self.uri


FLAG_ARGS_MARKER = "__flag_args__"
# The child module a run's ``op`` attr names. Guild's own name is recorded, so
# guildai restarts our runs with its ``guild.op_main``; when this tool runs a
# command, either name (runs from guildai, or our runs made before 0.2) runs
# ``luigi_guild.op_main``, which speaks the same ``--name value`` protocol.
GUILD_OP_MAIN = "guild.op_main"
OUR_OP_MAIN = "luigi_guild.op_main"
_OP_MAIN_NAMES = (GUILD_OP_MAIN, OUR_OP_MAIN)
# A ``steps:`` operation's process: Guild's steps runner in the ``op`` attr
# (so guildai can restart the run); here ours runs in its place.
GUILD_STEPS_MAIN = "guild.steps_main"
OUR_STEPS_MAIN = "luigi_guild.run.steps"


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
    requires: list[Requirement] = field(default_factory=list)
    file_requires: list[FileRequirement] = field(default_factory=list)  # ``file:`` entries of ``requires``
    # Source code settings (see project.sourcecode): ``model``/``op`` parsed configs, ``dest``, ``root``.
    sourcecode: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    description: str = ""
    details: list[str] = field(default_factory=list)  # the description's lines after the first
    # guild.yml ``objective:`` and ``optimizer:``/``optimizers:`` as written (checked by the sweeps layer).
    objective: Any = None
    optimizers: Any = None
    # guild.yml ``output-scalars`` (coerced: None = defaults, False = off) and ``compare`` specs.
    output_scalars: Any = None
    compare: list[str] | None = None
    delete_on_success: bool = False
    run_attrs: dict = field(default_factory=dict)

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
        # Guild's ``--`` parts the script's own arguments from the flag arguments;
        # it is written only when there are such arguments (a bare module needs none).
        sep = ["--"] if len(main) > 1 else []
        return ["${python_exe}", "-um", GUILD_OP_MAIN, *main, *sep, FLAG_ARGS_MARKER]

    def _sourcecode_attr(self) -> dict[str, Any]:
        """``op.sourcecode``: where the copy goes in the run, and ``root`` as guild.yml gives it."""
        attr: dict[str, Any] = {"dest": self.sourcecode.get("dest") or "."}
        if self.sourcecode.get("root"):
            attr["root"] = self.sourcecode["root"]
        return attr

    def op_attr(self) -> dict[str, Any]:
        """The ``op`` attr: everything needed to restart the run without the project."""
        cmd_flags = {}
        for name, fd in self.flags.items():
            entry: dict[str, Any] = {}
            if fd.arg_skip:
                entry["arg-skip"] = True
            if fd.arg_name:
                entry["arg-name"] = fd.arg_name
            if fd.arg_switch is not None:
                entry["arg-switch"] = fd.arg_switch
            if fd.type:
                entry["type"] = fd.type
            if entry:
                cmd_flags[name] = entry
        cmd_env: dict[str, Any] = {"FLAGS_DEST": self.flags_dest, **self.env}
        sourcecode = self._sourcecode_attr()
        if not self.exec_:
            # guildai's op_main imports the module from PYTHONPATH alone: name the run's
            # copy of the source there, as guildai does, so that guildai can restart the run.
            cmd_env["PYTHONPATH"] = with_source_path(sourcecode["dest"], self.env.get("PYTHONPATH"))
        attr: dict[str, Any] = {
            "op-cmd": {
                "cmd-args": self.cmd_template(),
                "cmd-env": cmd_env,
                "cmd-flags": cmd_flags,
                "flags-dest": self.flags_dest,
            },
            "sourcecode": sourcecode,
        }
        if self.label_template:
            attr["label-template"] = self.label_template
        if self.output_scalars is not None:
            attr["output-scalars"] = self.output_scalars
        if self.delete_on_success:
            attr["delete-on-success"] = True
        return attr


def with_source_path(dest: str, pythonpath: Any) -> str:
    """``cmd-env``'s PYTHONPATH as guildai writes it: the run's source copy (``dest``) first."""
    return os.pathsep.join([dest] + ([str(pythonpath)] if pythonpath else []))


def without_source_path(dest: str, pythonpath: str) -> str:
    """``cmd-env``'s PYTHONPATH without its leading source copy entry (our runs add that copy themselves)."""
    parts = pythonpath.split(os.pathsep)
    if parts and parts[0] in (dest, "."):
        parts = parts[1:]
    return os.pathsep.join(parts)


# ------------------------------------------------------------ command lines


def flag_args(flags: dict[str, Any], dest: str, cmd_flags: dict[str, dict] | None = None) -> list[str]:
    """Flag values as ``--name value`` arguments for the operation's process.

    Flags whose value is null are left out, as Guild leaves them out: the
    script keeps its own value.
    """
    cmd_flags = cmd_flags or {}
    args: list[str] = []
    if dest.startswith("config:"):
        return args  # the values are in the run's copy of the config file
    for name in sorted(flags):
        val = flags[name]
        if val is None:
            continue
        spec = cmd_flags.get(name, {})
        if spec.get("arg-skip"):
            continue
        arg_name = spec.get("arg-name") or name
        if dest == "globals" or dest.startswith("global:"):
            # A date (YAML ``2024-01-02``) is not JSON: its ISO text, which op_main reads back as a date.
            args.extend(["--" + arg_name, str(val) if _is_date(val) else json.dumps(val)])
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


def _is_date(val: Any) -> bool:
    import datetime

    return isinstance(val, datetime.date)


def build_cmd(op_attr: dict[str, Any], flags: dict[str, Any]) -> list[str]:
    """The argv to run, from an ``op`` attr and flag values."""
    op_cmd = op_attr.get("op-cmd") or {}
    dest = op_cmd.get("flags-dest", "globals")
    fargs = flag_args(flags, dest, op_cmd.get("cmd-flags"))
    cmd: list[str] = []
    parts = list(op_cmd.get("cmd-args") or [])
    for i, part in enumerate(parts):
        if part == FLAG_ARGS_MARKER:
            cmd.extend(fargs)
        elif part in _OP_MAIN_NAMES and i >= 1 and parts[i - 1] in ("-um", "-m"):
            cmd.append(OUR_OP_MAIN)
        elif part == GUILD_STEPS_MAIN and i >= 1 and parts[i - 1] in ("-um", "-m"):
            cmd.append(OUR_STEPS_MAIN)
        elif part == "--" and i >= 1 and parts[i - 1] not in _OP_MAIN_NAMES and _after_op_main(parts, i):
            continue  # Guild's separator right after the module: no script arguments to part
        else:
            cmd.append(_resolve_refs(part.replace("${python_exe}", sys.executable), flags))
    return cmd


def _after_op_main(parts: list[str], i: int) -> bool:
    """Whether ``parts[i]`` comes right after ``-um <op_main> MODULE`` (Guild puts ``--`` there)."""
    for j in range(i):
        if parts[j] in _OP_MAIN_NAMES and j >= 1 and parts[j - 1] in ("-um", "-m"):
            return i == j + 2
    return False


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
