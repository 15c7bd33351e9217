"""Run data for ``guild runs info`` and ``guild runs list --json`` (Guild's field names)."""

from __future__ import annotations

import os
import shlex
from typing import Any

from luigi_guild.store.rundir import Run
from luigi_guild.model.table import format_timestamp
from luigi_guild.model.status import Status

JSON_ATTRS = ("exit_status", "cmd", "comments", "marked", "label", "started", "status", "stopped", "tags")


def json_data(run: Run) -> dict[str, Any]:
    """One run as ``guild runs list --json`` lists it (also the remote wire format)."""
    try:
        opref = run.opref.encode()
    except (OSError, ValueError):
        opref = ""
    data: dict[str, Any] = {"id": run.id, "run_dir": run.path, "opref": opref}
    for name in JSON_ATTRS:
        data[name] = run.status if name == "status" else run.get(name)
    proto = run.guild_path("proto")
    if os.path.isdir(proto):
        data["batch_proto"] = json_data(Run.for_dir(proto))
    return data


QUALS = ("avg", "first", "last", "max", "min", "total")


def scalars_data(run: Run, all_scalars: bool = False, scalars: Any = None) -> dict[str, Any]:
    """``{key: (last, step)}`` without ``sys/*`` tags; with ``all_scalars`` every key and summary.

    With ``all_scalars`` each key maps to ``{qual: (value, step)}`` for
    ``avg first last max min total``; ``avg`` and ``total`` carry the count
    in place of a step.
    """
    from luigi_guild.store import scalars as scalarstore

    rows = scalarstore.info_order(scalars if scalars is not None else scalarstore.for_run(run))
    out: dict[str, Any] = {}
    for s in rows:
        if s.is_system and not all_scalars:
            continue
        if not all_scalars:
            out.setdefault(s.key, (s.last_val, s.last_step))
            continue
        out.setdefault(
            s.key,
            {
                "avg": (s.avg_val, s.count),
                "first": (s.first_val, s.first_step),
                "last": (s.last_val, s.last_step),
                "max": (s.max_val, s.max_step),
                "min": (s.min_val, s.min_step),
                "total": (s.total, s.count),
            },
        )
    return out


def info_items(run: Run, all_scalars: bool = False) -> list[tuple[str, Any]]:
    """``guild runs info`` fields in Guild's order: then tags, flags, scalars."""
    cmd = run.get("cmd")
    try:
        project = run.opref.project_dir or ""
    except (OSError, ValueError):
        project = ""
    exit_status = run.get("exit_status")
    pid = run.lock_pid() if run.status == Status.RUNNING else None
    items: list[tuple[str, Any]] = [
        ("id", run.id),
        ("operation", run.op_name),
        ("from", project),
        ("status", run.status_with_remote),
        ("started", format_timestamp(run.get("started"))),
        ("stopped", format_timestamp(run.get("stopped"))),
        ("marked", "yes" if run.get("marked") else "no"),
        ("label", run.label),
        ("sourcecode_digest", run.get("sourcecode_digest") or ""),
        ("vcs_commit", run.get("vcs_commit") or ""),
        ("run_dir", run.path),
        ("command", " ".join(shlex.quote(str(a)) for a in cmd) if isinstance(cmd, list) else ""),
        ("exit_status", "" if exit_status is None else exit_status),
        ("pid", "" if pid is None else pid),
        ("tags", list(run.get("tags") or [])),
        ("flags", dict(run.flags)),
        ("scalars", scalars_data(run, all_scalars)),
    ]
    proto = run.guild_path("proto")
    if os.path.isdir(proto):  # a batch run: its prototype's flags, as Guild shows them
        items.insert(len(items) - 1, ("proto-flags", dict(Run.for_dir(proto).flags)))
    job = run.get("slurm_job")
    if job is not None:  # a run started by a Slurm job (the slurm remote kind): Slurm's id and last word
        at = [name for name, _ in items].index("pid") + 1
        items[at:at] = [("slurm_job", str(job)), ("slurm_state", str(run.get("slurm_state") or ""))]
    return items
