"""The run pipeline: plan -> needed check -> claim -> create -> start.

``guild run`` and :class:`luigi_guild.tasks.OperationTask` both go through
these functions, so a run made from the CLI and one made by a Luigi worker
are made the same way.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import hashlib
import os
import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from luigi_guild.model import flags as flagslib
from luigi_guild.model import home
from luigi_guild.project import operations
from luigi_guild.model.errors import GuildError, RunningRunError
from luigi_guild.model.opref import OpRef
from luigi_guild.store.rundir import AVAILABLE_STATUSES, Run, marker_alive, now_us, write_file_atomic
from luigi_guild.targets.runs import NeededRunTarget

_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_SECRET_RE = re.compile(r"password|token|secret", re.IGNORECASE)


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
    opdef: operations.OpDef | None = None
    upstream: list[Run] = field(default_factory=list)
    upstream_select: dict[str, list[str]] = field(default_factory=dict)

    @property
    def op_name(self) -> str:
        return self.opref.display

    def target(self) -> NeededRunTarget:
        return NeededRunTarget(self.opref, self.flags)

    def cmd(self) -> list[str]:
        return operations.build_cmd(self.op_attr, self.flags)


# ----------------------------------------------------------------- planning


def _label(template: str | None, explicit: str | None, flags: dict[str, Any], tags: list[str]) -> str:
    label = explicit if explicit is not None else flagslib.render_label(template, flags)
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
    opdef: operations.OpDef | None = None,
    values: dict[str, Any] | None = None,
) -> RunPlan:
    """Plan a new run of ``opspec`` with ``NAME=VAL`` assigns (CLI) or Python ``values`` (API)."""
    opdef = opdef or operations.resolve(opspec, cwd)
    if values is not None:
        given = list(values)
        values = flagslib.resolve_values(opdef.flags, values, force_flags=force_flags, op_name=opdef.name)
    else:
        given = list(assigns or {})
        values = flagslib.resolve_flags(opdef.flags, assigns or {}, force_flags=force_flags, op_name=opdef.name)
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
    spec: str, assigns: dict[str, str], force_flags: bool = False, label: str | None = None
) -> RunPlan:
    """Plan a restart of run ``spec`` with flags overlaid by ``assigns``.

    Refuses a running run. Flag types come from the operation's definition
    when it still resolves; otherwise values decode by their look.
    """
    from luigi_guild.store import query as runstore

    run = runstore.find_run(spec, "run")
    if run.status == "running":
        raise RunningRunError(
            "cannot restart run %s because it's running" % run.id,
            hint="Use 'guild stop %s' to stop it first and try again." % run.id,
        )
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
        user_flags=flagslib.canonical(user_flags),
        label=new_label,
        project_dir=opref.project_dir,
        tags=list(tags),
        restart=run,
        run_params={"label": explicit, "force_flags": force_flags},
    )


def _flagdefs_for(opref: OpRef, run: Run) -> dict[str, flagslib.FlagDef]:
    try:
        if opref.pkg_type == "script":
            return operations.script_op(os.path.join(opref.pkg_name, opref.op_name)).flags
        if opref.pkg_type == "guildfile":
            from luigi_guild.project import guildfile

            opdef = guildfile.find_op(opref.pkg_name, "%s:%s" % (opref.model_name, opref.op_name) if opref.model_name else opref.op_name)
            if opdef is not None:
                return opdef.flags
    except GuildError:
        pass
    return {}


# ----------------------------------------------------------- needed / claims


def restart_not_needed(plan: RunPlan) -> bool:
    """``--restart --needed``: skip when the run is completed/terminated with the same flags."""
    run = plan.restart
    assert run is not None
    return run.status in AVAILABLE_STATUSES and run.flags == plan.flags


def _claim_key(plan: RunPlan) -> str:
    """The claim's name: operation and flag values, with ``1``, ``1.0`` and ``True`` alike.

    ``--needed`` compares flags with ``==``, so values Python finds equal
    must share one lock.
    """
    body = plan.opref.encode() + "\n" + flagslib.canonical_json(_equality_form(plan.flags))
    return hashlib.sha1(body.encode()).hexdigest()


def _equality_form(val: Any) -> Any:
    if isinstance(val, bool):
        return int(val)
    if isinstance(val, float) and val.is_integer():
        return int(val)
    if isinstance(val, dict):
        return {str(k): _equality_form(v) for k, v in val.items()}
    if isinstance(val, (list, tuple)):
        return [_equality_form(v) for v in val]
    return val


def _open_claim(plan: RunPlan) -> int:
    lock_dir = home.locks_dir()
    try:
        os.makedirs(lock_dir, exist_ok=True)
        return os.open(os.path.join(lock_dir, "needed-" + _claim_key(plan)), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise GuildError("cannot lock %s in %s: %s" % (plan.op_name, lock_dir, e.strerror or e)) from None


@contextlib.contextmanager
def claim(plan: RunPlan) -> Iterator[None]:
    """Hold an exclusive lock keyed on the operation and its flags.

    Concurrent ``--needed`` starts of the same operation and flags take turns:
    each re-checks after the lock is granted, so only one of them runs.
    """
    import fcntl
    import hashlib

    fd = _open_claim(plan)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _same_runs(plan: RunPlan) -> list[Run]:
    """Runs of the plan's operation with equal flags, whatever their status."""
    from luigi_guild.store import query as runstore

    found = []
    for run in runstore.list_runs():
        try:
            if run.opref != plan.opref:
                continue
        except (OSError, ValueError):
            continue
        if run.flags == plan.flags:
            found.append(run)
    return found


@contextlib.contextmanager
def claim_needed(plan: RunPlan) -> Iterator[list[Run]]:
    """``--needed`` under the claim: yields the matching runs (skip when not empty).

    The lock is held for the whole block, so callers check, create and run
    while holding it. A start that had to wait re-checks when it gets the lock:
    a run finished meanwhile that completed is a match; if it failed, this
    start runs once more; if two runs finished while it waited failed, it gives up
    (GuildError) instead of trying again, so one failure is retried once and
    not once per waiter.
    """
    import fcntl

    fd = _open_claim(plan)
    try:
        before: set[str] | None = None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Runs finished before we waited; runs in progress count as
            # made while we waited (we are waiting for them).
            before = {r.id for r in _same_runs(plan) if r.status not in ("running", "pending")}
            fcntl.flock(fd, fcntl.LOCK_EX)
        matches = plan.target().matches()
        if not matches and before is not None:
            failed = [r for r in _same_runs(plan) if r.id not in before and r.status == "error"]
            if len(failed) >= 2:
                raise GuildError(
                    "%s failed in %d runs started while this one waited (%s); not running it again"
                    % (plan.op_name, len(failed), ", ".join(r.short_id for r in failed)),
                    hint="Use 'guild runs' to see them, then run again to retry.",
                )
        yield matches
    finally:
        os.close(fd)


# ------------------------------------------------------------------ creation


def check_run_id(run_id: str) -> None:
    """Refuse ids that are not a plain directory name."""
    if not _RUN_ID_RE.match(run_id) or run_id in (".", ".."):
        raise GuildError("invalid run ID '%s': use letters, digits, '_', '.', '+' or '-'" % run_id)


def new_run_id() -> str:
    """A random (version 4) UUID as 32 hex digits, the way Guild names runs; no ``uuid`` import."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    return b.hex()


def create_run(plan: RunPlan, run_id: str | None = None) -> Run:
    """Create the run directory (``PENDING``, attrs, source) atomically; returns the run.

    The directory is assembled under a hidden temporary name and renamed into
    place last, so an interrupted creation never leaves a listed run behind.
    """
    runs_root = home.runs_dir()
    if run_id is not None:
        check_run_id(run_id)
    run_id = run_id or new_run_id()
    final = os.path.join(runs_root, run_id)
    if os.path.lexists(final):
        raise GuildError("a run with ID '%s' already exists" % run_id)
    try:
        os.makedirs(runs_root, exist_ok=True)
        clean_stale_tmp(runs_root)
        tmp = os.path.join(runs_root, "%s%s-%s" % (TMP_PREFIX, run_id, os.urandom(4).hex()))
        os.makedirs(os.path.join(tmp, ".guild", "attrs"))
    except OSError as e:
        raise GuildError("cannot create run in %s: %s" % (runs_root, e.strerror or e)) from None
    try:
        run = Run(run_id, tmp)
        run.mark_pending()
        _write_init_attrs(run, plan)
        if plan.project_dir and os.path.isdir(plan.project_dir):
            from luigi_guild.project import sourcecode

            run.write_attr("sourcecode_digest", sourcecode.copy_source(plan.project_dir, tmp))
        if plan.upstream:
            from luigi_guild.run import deps

            run.write_attr("deps", deps.link_upstream(plan.upstream, tmp, plan.upstream_select))
        run.write_opref(plan.opref)
        os.rename(tmp, final)
    except BaseException as e:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise GuildError("a run with ID '%s' already exists" % run_id) from None
        if isinstance(e, OSError):
            raise GuildError("cannot create run %s: %s" % (run_id, e.strerror or e)) from None
        raise
    run = Run(run_id, final)
    return run


# A run being created lives under this hidden prefix until it is renamed.
TMP_PREFIX = ".tmp-"
# Age after which a leftover creation dir whose creator is gone is removed.
STALE_TMP_AGE = 60.0
# Age after which a leftover creation dir with no readable creator is removed.
STALE_TMP_AGE_UNKNOWN = 24 * 3600.0


def clean_stale_tmp(runs_root: str, now: float | None = None) -> list[str]:
    """Remove creation dirs left by interrupted creations; returns the names removed.

    Only old ones go: a dir whose ``PENDING`` names a process that is gone
    and is older than a minute, or one with no readable creator older than a
    day. A creation in progress is never touched.
    """
    import shutil

    now = time.time() if now is None else now
    removed = []
    try:
        names = [n for n in os.listdir(runs_root) if n.startswith(TMP_PREFIX)]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(runs_root, name)
        try:
            age = now - os.lstat(path).st_mtime
        except OSError:
            continue  # renamed into place (or removed) since the listing
        try:
            with open(os.path.join(path, ".guild", "PENDING"), "rb") as f:
                marker: bytes | None = f.read(128)
        except FileNotFoundError:
            marker = None
        except OSError:
            continue
        if marker:
            stale = age > STALE_TMP_AGE and not marker_alive(marker)
        else:
            stale = age > STALE_TMP_AGE_UNKNOWN
        if stale and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


def _write_init_attrs(run: Run, plan: RunPlan) -> None:
    import getpass
    import platform

    run.write_attr("id", run.id)
    run.write_attr("initialized", now_us())
    run.write_attr("flags", plan.flags)
    run.write_attr("user_flags", plan.user_flags)
    if plan.label:
        run.write_attr("label", plan.label)
    if plan.tags:
        run.write_attr("tags", plan.tags)
    run.write_attr("cmd", plan.cmd())
    run.write_attr("op", plan.op_attr)
    run.write_attr("run_params", plan.run_params)
    run.write_attr("host", os.uname().nodename)  # what socket.gethostname() returns
    run.write_attr("user", getpass.getuser())
    uname = os.uname()
    run.write_attr(
        "platform",
        {
            "architecture": uname.machine,
            "cpus": os.cpu_count(),
            "python_version": platform.python_version(),
            "uname": " ".join(uname),
        },
    )


def _rewrite_for_restart(run: Run, plan: RunPlan) -> None:
    run.mark_pending()
    run.remove("STAGED")
    run.write_attr("flags", plan.flags)
    run.write_attr("user_flags", plan.user_flags)
    if plan.label:
        run.write_attr("label", plan.label)
    else:
        run.del_attr("label")
    run.write_attr("cmd", plan.cmd())
    run.write_attr("run_params", plan.run_params)
    run.del_attr("exit_status")
    run.del_attr("stopped")


# ------------------------------------------------------------------- running


def child_env(run: Run, plan: RunPlan) -> dict[str, str]:
    """The operation's environment: ours plus run and flag variables."""
    env = dict(os.environ)
    for name, val in plan.flags.items():
        env["FLAG_" + re.sub(r"\W", "_", name).upper()] = flagslib.env_val(val)
    op_cmd = plan.op_attr.get("op-cmd") or {}
    for name, val in (op_cmd.get("cmd-env") or {}).items():
        env[str(name)] = str(val)
    env.update(
        {
            "RUN_DIR": run.path,
            "RUN_ID": run.id,
            "GUILD_HOME": home.guild_home(),
            "GUILD_OP": plan.op_name,
            "PROJECT_DIR": plan.project_dir or "",
            "CMD_DIR": os.getcwd(),
        }
    )
    pythonpath = [run.path] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    return env


def start(run: Run, plan: RunPlan, echo: bool = True) -> int:
    """Start the run's process and wait for it; returns its exit status."""
    from luigi_guild.run import process as runner

    env = child_env(run, plan)
    try:
        run.write_attr("started", now_us())
        run.write_attr("env", {k: v for k, v in env.items() if not _SECRET_RE.search(k)})
    except OSError as e:
        raise GuildError("cannot start run %s: %s" % (run.id, e.strerror or e)) from None
    return runner.run_process(run, plan.cmd(), env, echo=echo)


def stage(run: Run, plan: RunPlan) -> None:
    """Finish a created run as ``staged``: ``ENV`` written, ready for ``--start``."""
    env = child_env(run, plan)
    lines = sorted("export %s=%s" % (k, shlex.quote(v)) for k, v in env.items() if k not in ("PWD", "_"))
    write_file_atomic(run.guild_path("ENV"), "\n".join(lines) + "\n")
    run.write_attr("started", now_us())
    run.touch("STAGED")
    run.remove("PENDING")


def prepare_restart_run(plan: RunPlan) -> Run:
    """Rewrite a restart run's attrs for a new start; returns the run."""
    assert plan.restart is not None
    try:
        _rewrite_for_restart(plan.restart, plan)
    except OSError as e:
        raise GuildError("cannot restart run %s: %s" % (plan.restart.id, e.strerror or e)) from None
    return plan.restart


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
