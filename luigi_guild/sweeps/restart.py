"""Restarting a batch run: its prototype's flags (changed or not), optimizer, max-trials and seed, run again in its directory.

``python -um luigi_guild.sweeps.restart`` (the command a grid or random
batch records) starts the batch in ``$RUN_DIR`` (or the directory given)
again, as ``guild run --start DIR -y`` does. As under Guild, a grid or
random batch runs all its trials again as new runs (earlier trials stay
linked; the batch's seed draws the same random trials and the same sample
of a grid), and a batch whose optimizer learns runs its max-trials again:
new trials, its random starts first, then trials learned from every
completed trial of the batch. The batch, its prototype and its trials must
not be running.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError, RunningRunError
from luigi_guild.model.flagid import canonical
from luigi_guild.model.status import Status
from luigi_guild.run import plan as planlib
from luigi_guild.store.rundir import Run
from luigi_guild.sweeps.batch import batch_deletes_on_success, is_batch_opref
from luigi_guild.sweeps.trials import SweepSpec


def is_batch_run(run: Run) -> bool:
    """Whether ``run`` is a sweep's batch run (made by either tool): a builtin batch opref and a prototype."""
    try:
        opref = run.opref
    except (OSError, ValueError):
        return False
    return is_batch_opref(opref) and opref.op_name != "queue" and os.path.isdir(run.guild_path("proto"))


@dataclass
class BatchRestart:
    """What a restart of a batch run will do."""

    batch: Run
    plan: planlib.RunPlan  # the prototype, with the restart's flags
    spec: SweepSpec
    keep: bool  # keep the batch when it succeeds
    stage_trials: bool
    label: str | None = None  # the trials' label template
    tags: list[str] | None = None


def plan_batch_restart(
    batch: Run,
    assigns: dict[str, str],
    *,
    force_flags: bool = False,
    max_trials: int | None = None,
    random_seed: int | None = None,
    opt_flags: dict[str, str] | None = None,
    minimize: str | None = None,
    maximize: str | None = None,
    label: str | None = None,
    keep_batch: bool = False,
    stage_trials: bool = False,
) -> BatchRestart:
    """Plan a restart of ``batch``; GuildError (nothing changed) when it cannot be restarted."""
    from luigi_guild.sweeps import learners
    from luigi_guild.sweeps import objective as objectives
    from luigi_guild.sweeps.driver import linked_trials

    if batch.status == Status.RUNNING:
        raise RunningRunError(
            "cannot restart run %s because it's running" % batch.id,
            hint="Use 'guild stop %s' to stop it first and try again." % batch.id,
        )
    trials = linked_trials(batch)
    busy = next((t for t in trials if t.status == Status.RUNNING), None)
    if busy is not None:
        raise RunningRunError(
            "cannot restart run %s because its trial %s is running" % (batch.id, busy.id),
            hint="Wait for it to finish, or use 'guild stop %s' to stop it, and try again." % busy.id,
        )
    proto = Run.for_dir(batch.guild_path("proto"))
    try:
        proto_opref = proto.opref
    except (OSError, ValueError):
        raise GuildError("cannot restart run %s: its prototype's opref is missing or invalid" % batch.id) from None
    opdef = planlib.opdef_for(proto_opref)
    if opdef is None:
        raise GuildError(
            "cannot restart run %s: operation '%s' is no longer defined in %s"
            % (batch.id, proto_opref.display, proto_opref.pkg_name)
        )
    optimizer = batch.opref.op_name
    learner = learners.learner_class(optimizer) if optimizer not in ("+", "random") else None
    if optimizer not in ("+", "random") and learner is None:
        raise GuildError("cannot restart run %s: optimizer '%s' is not supported" % (batch.id, optimizer))
    if opt_flags and learner is None:
        name, val = next(iter(opt_flags.items()))
        raise GuildError("invalid optimizer flag %s=%s: batch %s has no optimizer flags" % (name, val, batch.id))
    if (minimize or maximize) and learner is None:
        raise GuildError("--minimize and --maximize need an optimizer that learns (-o gp, -O...)")
    proto_params = proto.get("run_params") or {}
    old_force = bool(proto_params.get("force_flags")) if isinstance(proto_params, dict) else False
    base = proto.flags
    values = flagslib.resolve_flags(opdef.flags, assigns, base=base, force_flags=force_flags or old_force,
                                    op_name=opdef.name)
    trial_label = label if label is not None else (proto_params.get("label") if isinstance(proto_params, dict) else None)
    tags = list(proto.get("tags") or [])
    plan = planlib.plan_new(None, opdef=opdef, values=values, force_flags=True, label=trial_label, tags=tags)
    user_flags = dict(proto.get("user_flags") or {})
    user_flags.update({k: values[k] for k in assigns if k in values})
    plan.user_flags = canonical(user_flags)
    plan.run_params["force_flags"] = force_flags or old_force
    rows = proto.get("trials")
    seed = random_seed if random_seed is not None else batch.get("random_seed")
    recorded = batch.get("max_trials")
    recorded = recorded if isinstance(recorded, int) and not isinstance(recorded, bool) else None
    spec = SweepSpec(
        "grid" if optimizer == "+" else optimizer,
        max_trials if max_trials is not None else recorded,
        seed if isinstance(seed, int) else None,
        trial_rows=[r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else None,
    )
    if optimizer == "+" and max_trials is None and recorded is not None and not _sampled(recorded, base, spec):
        spec.max_trials = None  # the whole grid ran: the whole (new) grid runs again
    restart = BatchRestart(
        batch, plan, spec,
        keep=keep_batch or not batch_deletes_on_success(batch),
        stage_trials=stage_trials or bool(batch.get("stage_trials")),
        label=trial_label, tags=tags,
    )
    if learner is not None:
        given = dict(batch.flags)
        given.update(opt_flags or {})
        spec.opt_flags = learner.check_flags({k: v for k, v in given.items() if k in learner.FLAGS})
        spec.objective = objectives.resolve(minimize, maximize, _objective_attr(batch.get("objective")))
        total = spec.max_trials or learners.DEFAULT_MAX_TRIALS
        if total < 1:
            raise GuildError("invalid --max-trials %d: expected a positive number" % total)
    return restart


def _objective_attr(attr: Any) -> Any:
    """The objective a batch recorded (``COL`` or ``-COL``) as guild.yml would give it."""
    if not isinstance(attr, str) or not attr.strip("-"):
        return None
    return {"maximize": attr[1:]} if attr.startswith("-") else attr


def _sampled(recorded: int, flags: dict[str, Any], spec: SweepSpec) -> bool:
    """Whether a grid batch ran a sample of its grid (its max-trials below the grid's size)."""
    from luigi_guild.sweeps.trials import grid_size

    size = len(spec.trial_rows) if spec.trial_rows is not None else grid_size(flags)
    return recorded < size


def main(argv: list[str] | None = None) -> int:
    """Start the batch run in ``argv[0]`` (default ``$RUN_DIR``) again, through ``guild run --start``."""
    import subprocess
    import sys

    args = sys.argv[1:] if argv is None else argv
    run_dir = args[0] if args else os.environ.get("RUN_DIR")
    if not run_dir:
        sys.stderr.write("usage: python -m luigi_guild.sweeps.restart [RUN_DIR]\n")
        return 2
    return subprocess.call([sys.executable, "-m", "luigi_guild", "run", "--start", os.path.abspath(run_dir), "-y"])


if __name__ == "__main__":
    raise SystemExit(main())
