"""Batch runs: the run that records a sweep (``<op>+`` or ``<op>+random``) and links its trials.

A batch run's opref is ``builtin:guildai 0.9.0 '' +`` (grid) or
``... random``; its flags are the optimizer's; its ``.guild/proto`` is a
pending run of the prototype operation (unexpanded flags, command, source),
and ``<batch>/<trial id>`` links to each trial, as Guild does.
"""

from __future__ import annotations

import os
from typing import Any

from luigi_guild.model import home
from luigi_guild.model.opref import OpRef
from luigi_guild.run.plan import RunPlan
from luigi_guild.store.rundir import Run, now_us


# Batch oprefs name the guildai version whose layout they follow, so that
# each tool's ``--needed`` matches the other's batches (Guild compares whole oprefs).
GUILD_VERSION = "0.9.0"


def batch_opref(optimizer: str, model: str = "") -> OpRef:
    """Opref of a batch run: ``builtin:guildai 0.9.0 '' +`` (grid), ``... random``, ``... skopt gp``."""
    return OpRef("builtin", "guildai", GUILD_VERSION, model, "+" if optimizer == "grid" else optimizer)


def is_batch_opref(opref: OpRef) -> bool:
    """Whether ``opref`` names a batch run (any guildai version)."""
    return opref.pkg_type == "builtin" and opref.pkg_name == "guildai" and opref.op_name not in ("queue",)


# The module guildai 0.9.0 runs for each of its optimizers (tpe and cmaes are ours alone).
_GUILDAI_OPTIMIZER_MAINS = {
    "grid": "guild.batch_main",
    "random": "guild.plugins.random_main",
    "gp": "guild.plugins.skopt_gp_main",
    "forest": "guild.plugins.skopt_forest_main",
    "gbrt": "guild.plugins.skopt_gbrt_main",
}


def batch_op_attr(optimizer: str, delete_on_success: bool = False) -> dict[str, Any]:
    """A batch run's ``op`` attribute: its optimizer, whether it is deleted when it succeeds, and
    (for the optimizers guildai has) the command guildai 0.9.0 runs to restart it.

    Our own restarts read only ``optimizer`` and ``delete-on-success``; ``op-cmd``
    names guildai's batch module under guildai's Python (``${guild_python_exe}``),
    so that ``guild run --restart BATCH`` with guildai runs the sweep again.
    """
    attr: dict[str, Any] = {"optimizer": optimizer, "delete-on-success": delete_on_success}
    main = _GUILDAI_OPTIMIZER_MAINS.get(optimizer)
    if main:
        attr["op-cmd"] = {"cmd-args": ["${guild_python_exe}", "-um", main], "cmd-env": {}, "flags-dest": "args"}
        attr["sourcecode"] = {"dest": "."}
    return attr


# The process a batch run names as its command: a restart of the batch (see sweeps.restart).
BATCH_MAIN = "luigi_guild.sweeps.restart"


def batch_cmd() -> list[str]:
    """The command a batch run records (and ``--print-cmd`` shows first): it starts the batch in ``$RUN_DIR``."""
    import sys

    return [sys.executable, "-um", BATCH_MAIN]


def create_batch_run(
    proto: RunPlan,
    optimizer: str,
    attrs: dict[str, Any],
    model: str = "",
    batch_flags: dict[str, Any] | None = None,
    label: str | None = None,
    tags: list[str] | None = None,
    delete_on_success: bool = False,
    run_id: str | None = None,
    comment: str | None = None,
) -> Run:
    """Create and start (LOCK = this process) the batch run for a sweep, laid out as Guild lays it.

    The batch's own flags are the optimizer's (``{}`` for grid and random),
    and its label ``label`` (``--batch-label``, a template over those flags)
    or, for optimizers with flags, their default label. ``.guild/proto`` is
    the prototype: a pending run of ``proto`` (its unexpanded flags, command,
    source code), as Guild stages it. ``delete_on_success`` is recorded in
    the batch's ``op`` attribute, as Guild records it, so that a restart of
    the batch knows whether to keep it.
    """
    from luigi_guild.model.flags import default_label, render_label
    from luigi_guild.run import create
    from luigi_guild.run import process as runner

    own_flags = dict(batch_flags or {})
    params: dict[str, Any] = {"optimizer": optimizer, "batch_label": label, "batch_tags": list(tags or [])}
    plan = RunPlan(
        opref=batch_opref(optimizer, model),
        op_attr=batch_op_attr(optimizer, delete_on_success),
        flags=own_flags,
        user_flags=own_flags,
        label=render_label(label, own_flags) if label is not None else default_label(own_flags),
        project_dir=None,
        tags=list(tags or []),
        run_params=params,
        comment=comment,  # --batch-comment
    )
    run = create.create_run(plan, run_id)
    try:
        run.write_attr("cmd", batch_cmd())
        create.create_run(proto, run_dir=run.guild_path("proto"))
        for name, val in attrs.items():
            run.write_attr(name, val)
        run.write_attr("started", now_us())
        runner.write_lock(run, os.getpid())
        run.remove("PENDING")
    except BaseException:
        import shutil

        shutil.rmtree(run.path, ignore_errors=True)
        raise
    return run


def stage_batch_run(run: Run) -> None:
    """Leave a just-created batch run unstarted (``--stage``): ``pending``, as Guild leaves a staged batch."""
    run.write_file(".guild/PENDING", "")
    run.remove("LOCK")
    run.del_attr("started")


def reopen_batch_run(
    run: Run, proto: RunPlan, attrs: dict[str, Any], batch_flags: dict[str, Any] | None = None
) -> None:
    """Start an existing batch run again (a restart): its prototype takes ``proto``'s flags,
    ``attrs`` are written over its own, and it is marked running by this process."""
    from luigi_guild.run import process as runner

    proto_run = Run.for_dir(run.guild_path("proto"))
    proto_run.write_attr("flags", proto.flags)
    proto_run.write_attr("user_flags", proto.user_flags)
    if proto.label:
        proto_run.write_attr("label", proto.label)
    if batch_flags is not None:
        run.write_attr("flags", batch_flags)
        run.write_attr("user_flags", batch_flags)
    for name, val in attrs.items():
        run.write_attr(name, val)
    run.write_attr("started", now_us())
    runner.write_lock(run, os.getpid())
    for name in ("exit_status", "stopped"):
        run.del_attr(name)
    run.remove("PENDING")
    run.remove("STAGED")


def batch_deletes_on_success(run: Run) -> bool:
    """Whether a batch run is moved to the trash when it succeeds (its ``op`` attribute says so)."""
    op = run.get("op")
    if isinstance(op, dict) and "delete-on-success" in op:
        return bool(op["delete-on-success"])
    return False


def finish_batch_run(run: Run, exit_status: int, keep: bool) -> None:
    """Record the batch's exit status; move it to the trash when it succeeded and ``keep`` is false.

    The batch's own scalars are captured from its output first, as any run's are.
    """
    from luigi_guild.run.capture import capture_output_file

    capture_output_file(run.guild_path())
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


def append_output(batch_dir: str, data: bytes, index: bytes | None = None) -> None:
    """Add ``data`` to the batch's ``.guild/output`` (with its ``output.index`` records), as a
    Guild batch records its trials' lines and output; a record per line of ``data`` when
    ``index`` is None. Writers take turns (trials may finish at once); errors are ignored."""
    import fcntl
    import struct
    import time

    if not data:
        return
    if index is None:
        stamp = struct.pack(">QB", int(time.time() * 1000), 1)
        index = stamp * data.count(b"\n")
    guild_dir = os.path.join(batch_dir, ".guild")
    try:
        fd = os.open(os.path.join(guild_dir, "output"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        ifd = os.open(os.path.join(guild_dir, "output.index"),
                      os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            os.write(ifd, index)
        finally:
            os.close(ifd)
    except OSError:
        pass
    finally:
        os.close(fd)

