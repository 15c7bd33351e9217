"""Run plans: what to run (operation, flags, label, command) before anything is created.

A :class:`RunPlan` is made for a new run (:func:`plan_new`) or a restart
(:func:`plan_restart`); the run pipeline (:mod:`luigi_guild.run.pipeline`)
executes it.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from typing import Any

from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError, RunningRunError
from luigi_guild.model.flagid import canonical, flags_equal
from luigi_guild.model.opdef import OpDef, build_cmd
from luigi_guild.model.opref import OpRef
from luigi_guild.model.status import Status
from luigi_guild.project import operations, scripts
from luigi_guild.store.rundir import Run


@dataclass
class Upstream:
    """An upstream run chosen for a new run, and how Guild records it (``deps`` attr, manifest)."""

    run: Run
    uri: str  # operation:<spec>
    resource: str  # key in the deps attr: the requirement's name, else its flag-name, else the uri
    select: list[str] = field(default_factory=list)


@dataclass
class RunPlan:
    """Everything needed to create or restart one run."""

    opref: OpRef
    op_attr: dict[str, Any]
    flags: dict[str, Any]
    user_flags: dict[str, Any]
    label: str
    project_dir: str | None
    tags: list[str] = field(default_factory=list)
    restart: Run | None = None
    run_params: dict[str, Any] = field(default_factory=dict)
    opdef: OpDef | None = None
    # Upstream runs whose files are linked in; their ids are in ``flags`` too (see run.deps).
    upstream: list[Upstream] = field(default_factory=list)
    comment: str | None = None
    # ``--force-sourcecode`` on a restart: the current definition whose source is copied again.
    force_sourcecode: OpDef | None = None
    # ``--proto RUN``: a new run that takes RUN's operation, flags and source code.
    proto: Run | None = None
    # Warnings from placing dependencies, by resource name, held for the resolution report (``guild run``
    # prints each after its ``Resolving`` line, as Guild does); None: written to stderr at once.
    dep_notes: dict[str, list[str]] | None = None

    @property
    def op_name(self) -> str:
        return self.opref.display

    def cmd(self) -> list[str]:
        return build_cmd(self.op_attr, self.flags)

    def relabel(self) -> None:
        """Render the label again (after upstream run ids were written into the flags)."""
        template = self.opdef.label_template if self.opdef is not None else self.op_attr.get("label-template")
        self.label = _label(template, self.run_params.get("label"), self.flags, self.tags)


# ----------------------------------------------------------------- planning


def _label(template: str | None, explicit: str | None, flags: dict[str, Any], tags: list[str]) -> str:
    if explicit is not None:  # --label may be a template too (kept raw in run_params for restarts)
        label = flagslib.render_label(explicit, flags) if "${" in explicit else explicit
    else:
        label = flagslib.render_label(template, flags)
    if tags and explicit is None:
        label = " ".join(tags + ([label] if label else []))
    return label


def plan_new(
    opspec: str | None,
    assigns: dict[str, str] | None = None,
    force_flags: bool = False,
    cwd: str | None = None,
    label: str | None = None,
    tags: list[str] | None = None,
    opdef: OpDef | None = None,
    values: dict[str, Any] | None = None,
) -> RunPlan:
    """Plan a new run of ``opspec`` with ``NAME=VAL`` assigns (CLI) or Python ``values`` (API)."""
    opdef = opdef or operations.resolve(opspec, cwd)
    if values is not None:
        given = list(values)
        values = flagslib.resolve_values(opdef.flags, values, force_flags=force_flags, op_name=opdef.name)
    else:
        assigns = flagslib.normalize_aliases(opdef.flags, assigns or {}, force_flags)
        given = list(assigns)
        values = flagslib.resolve_flags(opdef.flags, assigns, force_flags=force_flags, op_name=opdef.name)
    user_flags = {k: values[k] for k in sorted(given)}
    tags = list(tags or [])
    return RunPlan(
        opref=opdef.opref,
        op_attr=opdef.op_attr(),
        flags=values,
        user_flags=user_flags,
        label=_label(opdef.label_template, label, values, tags),
        project_dir=opdef.project_dir,
        tags=tags,
        run_params={"label": label, "force_flags": force_flags},
        opdef=opdef,
    )


def plan_restart(
    spec: str, assigns: dict[str, str], force_flags: bool = False, label: str | None = None, run: Run | None = None
) -> RunPlan:
    """Plan a restart of run ``spec`` (or ``run``, already found) with flags overlaid by ``assigns``.

    Refuses a running run. Flag types come from the operation's definition
    when it still resolves; otherwise values decode by their look.
    """
    if run is None:
        from luigi_guild.store import query

        run = query.find_run(spec, "run")
    if run.status == Status.RUNNING:
        raise RunningRunError(
            "cannot restart run %s because it's running" % run.id,
            hint="Use 'guild stop %s' to stop it first and try again." % run.id,
        )
    plan = _plan_from_run(run, assigns, force_flags, label)
    plan.restart = run
    return plan


def plan_proto(
    spec: str, assigns: dict[str, str], force_flags: bool = False, label: str | None = None
) -> RunPlan:
    """Plan a new run from run ``spec`` (``--proto``): its operation, its flags overlaid by ``assigns``,
    and (when created) a copy of its source code. Unlike a restart, the proto run may be running."""
    from luigi_guild.store import query

    run = query.find_run(spec, "run")
    plan = _plan_from_run(run, assigns, force_flags, label)
    plan.proto = run
    return plan


def _plan_from_run(run: Run, assigns: dict[str, str], force_flags: bool, label: str | None) -> RunPlan:
    """A plan that takes an existing run's operation and flags (restart and proto)."""
    op_attr = run.get("op")
    if not isinstance(op_attr, dict) or not isinstance(op_attr.get("op-cmd"), dict):
        raise GuildError("cannot restart run %s: its 'op' attribute is missing or invalid" % run.id)
    try:
        opref = run.opref
    except (OSError, ValueError):
        raise GuildError("cannot restart run %s: its opref is invalid" % run.id) from None
    if run.read_raw_attr("flags") is not None and not isinstance(run.get("flags"), dict):
        raise GuildError("cannot restart run %s: its 'flags' attribute is not a mapping" % run.id)
    flagdefs: dict[str, flagslib.FlagDef] = {}
    if assigns:
        flagdefs = _flagdefs_for(opref, run)
        assigns = flagslib.normalize_aliases(flagdefs, assigns, force_flags)
    base = run.flags
    for name, fd in flagdefs.items():
        base.setdefault(name, fd.default)
    values = flagslib.resolve_flags(flagdefs, assigns, base=base, force_flags=force_flags, op_name=opref.display)
    params = run.get("run_params") or {}
    old_label = params.get("label") if isinstance(params, dict) else None
    tags = run.get("tags") or []
    explicit = label if label is not None else old_label
    new_label = _label(op_attr.get("label-template"), explicit, values, list(tags) if explicit is None else [])
    user_flags = dict(run.get("user_flags") or {})
    user_flags.update({k: values[k] for k in assigns})
    return RunPlan(
        opref=opref,
        op_attr=op_attr,
        flags=values,
        user_flags=canonical(user_flags),
        label=new_label,
        project_dir=opref.project_dir,
        tags=list(tags),
        run_params={"label": explicit, "force_flags": force_flags,
                    **{k: params[k] for k in ("gpus", "no_gpus") if isinstance(params, dict) and params.get(k)}},
    )


def _flagdefs_for(opref: OpRef, run: Run) -> dict[str, flagslib.FlagDef]:
    try:
        opdef = opdef_for(opref)
    except GuildError:
        return {}
    return opdef.flags if opdef is not None else {}


def opdef_for(opref: OpRef) -> OpDef | None:
    """The current definition of a run's operation (its script or guild.yml), None when gone."""
    if opref.pkg_type == "script":
        return scripts.script_op(os.path.join(opref.pkg_name, opref.op_name))
    if opref.pkg_type == "guildfile":
        from luigi_guild.project import guildfile

        if not os.path.isfile(opref.pkg_name):
            return None
        return guildfile.find_op(opref.pkg_name, "%s:%s" % (opref.model_name, opref.op_name) if opref.model_name else opref.op_name)
    if opref.pkg_type == "package":
        from luigi_guild.project import packages

        op = "%s:%s" % (opref.model_name, opref.op_name) if opref.model_name else opref.op_name
        return packages.find_op("%s/%s" % (opref.pkg_name, op))
    return None


def force_sourcecode(plan: RunPlan) -> None:
    """Make a restart (or a run from a proto) copy the project's current source (``--force-sourcecode``).

    Fails when the operation's definition can no longer be found.
    """
    base = plan.restart or plan.proto
    assert base is not None
    opdef = opdef_for(plan.opref)
    if opdef is None:
        raise GuildError(
            "cannot copy source code for run %s: operation '%s' is no longer defined in %s"
            % (base.id, plan.op_name, plan.opref.pkg_name)
        )
    plan.force_sourcecode = opdef


def restart_needed(plan: RunPlan) -> bool:
    """``--restart --needed``: whether the run must start again (not available, or flags changed)."""
    run = plan.restart
    assert run is not None
    return not (run.status in Status.AVAILABLE and flags_equal(run.flags, plan.flags))


def print_cmd(plan: RunPlan) -> str:
    return " ".join(shlex.quote(a) for a in plan.cmd())



def as_package(plan: RunPlan, package: str) -> RunPlan:
    """Record the run as made from an installed package (``NAME`` or ``NAME==VERSION``).

    Remote runs use this: the project is shipped to the remote as a package,
    and runs there show as ``<package>/<op>``.
    """
    name, _, version = package.partition("==")
    plan.opref = OpRef("package", name, version, plan.opref.model_name, plan.opref.op_name)
    return plan
