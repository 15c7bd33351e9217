"""Run data for ``guild runs info``, ``guild runs list --json`` and ``guild api runs`` (Guild's field names)."""

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


# Attrs ``api runs`` shows under their own fields (or not at all); the rest go to ``otherAttrs``, as in Guild.
_API_CORE_ATTRS = frozenset(
    "cmd comments compare deps env exit_status flags host id initialized label marked objective op pip_freeze "
    "platform plugins random_seed run_params sourcecode_digest started stopped tags user user_flags vcs_commit "
    "r_sys_info r_packages_loaded resolved_deps opdef".split()
)


def api_run_data(run: Run, runs_dir: str, scalars: Any) -> dict[str, Any]:
    """One run as Guild's ``api runs`` (API version 2) describes it: Guild's field names and order.

    ``runs_dir`` is the Guild home's runs directory (links into it are
    upstream runs' files); ``scalars`` the run's summaries (:mod:`scalars`).
    """
    from luigi_guild.store import manifest

    cmd = run.get("cmd")
    try:
        opref = run.opref
    except (OSError, ValueError):
        opref = None
    op_attr = run.get("op")
    sourcecode = op_attr.get("sourcecode") if isinstance(op_attr, dict) else None
    dest = sourcecode.get("dest") if isinstance(sourcecode, dict) else None
    exit_status = run.get("exit_status")
    return {
        "id": run.id,
        "shortId": run.short_id,
        "dir": run.path,
        "operation": run.op_name,
        "started": run.get("started"),
        "stopped": run.get("stopped"),
        "label": run.get("label") or "",
        "tags": run.get("tags") or [],
        "comments": run.get("comments") or [],
        "status": run.status,
        "exitStatus": "" if exit_status is None else exit_status,
        "command": " ".join(_api_arg(a) for a in cmd) if isinstance(cmd, list) else "",
        "otherAttrs": {
            name: run.get(name) for name in run.attr_names() if name[0] != "_" and name not in _API_CORE_ATTRS
        },
        "flags": run.get("flags") or {},
        "env": run.get("env") or {},
        "deps": [],  # Guild 0.9 lists none for its own deps attr layout
        "files": _api_files(run, runs_dir),
        "sourcecode": {
            "root": os.path.relpath(os.path.normpath(os.path.join(run.path, dest)), run.path) if dest else ".",
            "files": sorted(f[1] for f in manifest.read(run.path) or [] if len(f) > 1 and f[0] == "s"),
        },
        "projectDir": _api_project_dir(run, opref),
        "opRef": None if opref is None else {
            "pkgType": opref.pkg_type,
            "pkgName": opref.pkg_name,
            "pkgVersion": opref.pkg_version,
            "modelName": opref.model_name,
            "opName": opref.op_name,
        },
        "marked": run.get("marked") or False,
        "scalars": [
            {
                "run": run.id, "prefix": s.prefix, "tag": s.tag,
                "firstVal": s.first_val, "firstStep": s.first_step, "lastVal": s.last_val, "lastStep": s.last_step,
                "minVal": s.min_val, "minStep": s.min_step, "maxVal": s.max_val, "maxStep": s.max_step,
                "avgVal": s.avg_val, "total": s.total, "count": s.count,
            }
            for s in scalars
        ],
    }


def _api_arg(arg: Any) -> str:
    """A command argument as Guild's run data shows it: in double quotes when empty or spaced."""
    text = str(arg)
    return '"%s"' % text if text == "" or " " in text else text


def _api_project_dir(run: Run, opref: Any) -> str | None:
    proto = run.guild_path("proto")
    if os.path.isdir(proto):
        try:
            opref = Run.for_dir(proto).opref
        except (OSError, ValueError):
            return None
    if opref is None:
        return None
    if opref.pkg_type in ("guildfile", "import"):
        return os.path.dirname(opref.pkg_name)
    return opref.pkg_name if opref.pkg_type == "script" else None


def _api_files(run: Run, runs_dir: str) -> list[dict[str, Any]]:
    """The run's files and links (not ``.guild``), naturally sorted, with the upstream run of linked ones."""
    import re

    found = []
    for root, dirs, names in os.walk(run.path):
        if root == run.path and ".guild" in dirs:
            dirs.remove(".guild")
        for name in dirs + names:
            path = os.path.join(root, name)
            if not (os.path.islink(path) or os.path.isfile(path)):
                continue
            try:
                st = os.stat(path)
                size: int | None = st.st_size
                mtime: int | None = int(st.st_mtime * 1000)
            except OSError:
                size = mtime = None
            operation = upstream = None
            if os.path.islink(path):
                real = os.path.realpath(path)
                if real.startswith(runs_dir + os.sep):
                    up_id = real[len(runs_dir) + 1:].split(os.sep, 1)[0]
                    up = Run(up_id, os.path.join(runs_dir, up_id))
                    if os.path.isdir(up.guild_path()):
                        operation, upstream = up.op_name, up.short_id
                    else:
                        operation = "%s (deleted)" % up_id
            found.append(
                {"path": path[len(run.path) + 1:], "size": size, "mtime": mtime, "operation": operation,
                 "run": upstream}
            )

    def natural(item: dict[str, Any]) -> list[Any]:
        return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", item["path"]) if p]

    return sorted(found, key=natural)
