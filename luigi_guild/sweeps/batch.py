"""Batch runs: the run that records a sweep (``<op>+`` or ``<op>+random``) and links its trials.

A batch run's opref is ``builtin:guildai <version> '' +`` (grid) or
``... random``; its ``.guild/proto`` holds the prototype operation and its
flags, and ``<batch>/<trial id>`` links to each trial, as Guild does.
"""

from __future__ import annotations

import os
from typing import Any

from luigi_guild import __version__
from luigi_guild.model import home
from luigi_guild.model.opref import OpRef
from luigi_guild.store.rundir import Run, now_us


def batch_opref(optimizer: str, model: str = "") -> OpRef:
    """Opref of a batch run: ``builtin:guildai <version> '' +`` (grid), ``... random``, ``... skopt gp``."""
    return OpRef("builtin", "guildai", __version__, model, "+" if optimizer == "grid" else optimizer)


def create_batch_run(
    proto_opref: OpRef,
    flags: dict[str, Any],
    optimizer: str,
    attrs: dict[str, Any],
    model: str = "",
    batch_flags: dict[str, Any] | None = None,
) -> Run:
    """Create and start (LOCK = this process) the batch run for a sweep.

    ``flags`` are the prototype's (unexpanded) flags; ``batch_flags`` the
    optimizer's flags, which are the batch's own flags and label (as Guild).
    """
    from luigi_guild.model.atomic import write_file_atomic
    from luigi_guild.run import create
    from luigi_guild.run import process as runner
    from luigi_guild.run.plan import RunPlan

    from luigi_guild.model.flags import default_label

    plan = RunPlan(
        opref=batch_opref(optimizer, model),
        op_attr={"optimizer": optimizer},
        flags=flags if batch_flags is None else batch_flags,
        user_flags=flags if batch_flags is None else batch_flags,
        label=default_label(batch_flags) if batch_flags else "",
        project_dir=None,
        run_params={"optimizer": optimizer},
    )
    run = create.create_run(plan)
    proto = os.path.join(run.path, ".guild", "proto", ".guild")
    os.makedirs(os.path.join(proto, "attrs"), exist_ok=True)
    write_file_atomic(os.path.join(proto, "opref"), proto_opref.encode())
    proto_run = Run(run.id + "-proto", os.path.dirname(proto))
    proto_run.write_attr("flags", flags)
    for name, val in attrs.items():
        run.write_attr(name, val)
    run.write_attr("started", now_us())
    runner.write_lock(run, os.getpid())
    run.remove("PENDING")
    return run


def finish_batch_run(run: Run, exit_status: int, keep: bool) -> None:
    """Record the batch's exit status; move it to the trash when it succeeded and ``keep`` is false."""
    run.write_attr("exit_status", exit_status)
    run.write_attr("stopped", now_us())
    run.remove("LOCK")
    if exit_status == 0 and not keep:
        trash = home.trash_runs_dir()
        os.makedirs(trash, exist_ok=True)
        dest = os.path.join(trash, run.id)
        if os.path.lexists(dest):
            import shutil

            shutil.rmtree(dest, ignore_errors=True)
        os.rename(run.path, dest)


def link_trial(batch_dir: str, run: Run) -> None:
    """``<batch>/<trial id>`` -> ``../<trial id>``, as Guild links trials."""
    link = os.path.join(batch_dir, run.id)
    if not os.path.lexists(link):
        os.symlink(os.path.join("..", run.id), link)
