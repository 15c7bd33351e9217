"""What ``-r REMOTE`` does: run, forward commands, pull and push runs over SSH.

The remote's own ``guild`` (this program, installed in the remote's venv)
does the work on the remote side; this module ships projects and runs there,
forwards commands and copies run directories back and forth as archives.
Every remote command line is built by :class:`~luigi_guild.remote.ssh.RemoteHost`
with each argument quoted.

Imports Fabric (through :mod:`luigi_guild.remote.ssh`) only when a function
here actually connects.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from luigi_guild.model.errors import GuildError

if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.remote.package import Package
    from luigi_guild.remote.ssh import RemoteHost
    from luigi_guild.store.rundir import Run

# Never copied between hosts: lock files (a run's liveness belongs to the host
# it runs on) and Guild's per-run job package directory.
RUN_EXCLUDES = (".guild/LOCK*", ".guild/job-packages")


def connect(name: str) -> "RemoteHost":
    """A (lazily connecting) host for configured remote ``name``."""
    from luigi_guild.remote.config import remote_config
    from luigi_guild.remote.ssh import RemoteHost

    return RemoteHost(remote_config(name))


def _note(msg: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _out(msg: str) -> None:
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------ forward


def forward(
    name: str,
    args: Sequence[str],
    env: Optional[Mapping[str, str]] = None,
    merge_stderr: bool = False,
    stdin: bool = True,
) -> int:
    """Run ``guild ARGS`` on remote ``name``, streaming its output; returns its exit code.

    With ``stdin``, local input reaches the remote command (its confirmation prompts).
    """
    sys.stdout.flush()
    with connect(name) as host:
        result = host.run(list(args), env=env, stream=True, merge_stderr=merge_stderr, stdin=stdin)
    return result.exit_code


def watch(name: str, args: Sequence[str]) -> int:
    """``guild watch ARGS`` on the remote; Ctrl-C detaches without stopping the run."""
    try:
        return forward(name, ["watch", *args], merge_stderr=True, stdin=False)
    except KeyboardInterrupt:
        _note("Stopped watching remote run")
        return 0


# ---------------------------------------------------------------------- run


@dataclass
class RemoteRunRequest:
    """A ``guild run ... -r REMOTE`` as the remote's ``guild run`` should receive it."""

    remote: str
    opspec: Optional[str]
    flag_args: list[str]
    package: Optional["Package"] = None
    restart: Optional[str] = None
    needed: bool = False
    stage: bool = False
    no_wait: bool = False
    label: Optional[str] = None
    tags: list[str] = field(default_factory=list)
    force_flags: bool = False


def run(req: RemoteRunRequest) -> int:
    """Ship the project, start the run detached on the remote and (unless ``no_wait``) watch it.

    Returns the local exit code: 0 once a watched run has stopped, whatever its
    status (the status line says how it ended).
    """
    run_id = req.restart or uuid.uuid4().hex
    with connect(req.remote) as host:
        if req.package is not None:
            _note("Copying package to %s" % req.remote)
            host.put_archive(
                req.package.project_dir,
                posixpath.join(host.config.guild_home, req.package.remote_dir),
                members=list(req.package.files),
            )
        if req.restart:
            _note("%s %s on %s" % ("Staging" if req.stage else "Restarting", run_id, req.remote))
        else:
            _note("%s %s on %s as %s" % ("Staging" if req.stage else "Starting", req.opspec, req.remote, run_id))
        result = host.run(_remote_run_args(req, run_id), in_guild_home=True)
        if result.exit_code != 0:
            _echo_captured(result.stdout, result.stderr)
            raise SystemExit(result.exit_code)
        if req.needed and result.stdout.startswith("Skipping"):
            _echo_captured(result.stdout, result.stderr)
            return 0
        if req.stage:
            _out("%s staged on %s as %s" % (req.opspec or run_id, req.remote, run_id))
            _out("To start the operation, use 'guild run -r %s --start %s'" % (req.remote, run_id))
            return 0
        if req.no_wait:
            _out("%s is running on %s" % (run_id, req.remote))
            _out("To watch use 'guild watch %s -r %s'" % (run_id, req.remote))
            return 0
        sys.stdout.flush()
        try:
            watched = host.run(["watch", run_id], env={"NO_WATCHING_MSG": "1"}, stream=True, merge_stderr=True)
        except KeyboardInterrupt:
            _note("Detached from remote run %s (still running)" % run_id)
            _note("To re-attach use 'guild watch %s -r %s'" % (run_id, req.remote))
            return 0
    if watched.exit_code != 0:
        raise GuildError(
            "cannot watch run %s on %s" % (run_id, req.remote),
            hint="Try 'guild runs info %s -r %s' to check it." % (run_id[:8], req.remote),
        )
    return 0


def _remote_run_args(req: RemoteRunRequest, run_id: str) -> list[str]:
    """Arguments for the remote ``guild run`` (run in the remote Guild home)."""
    args = ["run", "--yes", "--quiet"]
    if not req.stage:
        args += ["--background", "--pidfile", "runs/%s/.guild/JOB" % run_id]
    if req.restart:
        args += ["--restart", req.restart]
    else:
        assert req.package is not None
        args += ["--project-dir", req.package.remote_dir, "--package", req.package.name, "--run-id", run_id]
    if req.needed:
        args.append("--needed")
    if req.stage:
        args.append("--stage")
    if req.label is not None:
        args += ["--label", req.label]
    for tag in req.tags:
        args += ["--tag", tag]
    if req.force_flags:
        args.append("--force-flags")
    if req.opspec:
        args.append(req.opspec)
    args += list(req.flag_args)
    return args


def _echo_captured(stdout: str, stderr: str) -> None:
    if stdout:
        sys.stdout.write(stdout if stdout.endswith("\n") else stdout + "\n")
        sys.stdout.flush()
    if stderr:
        sys.stderr.write(stderr if stderr.endswith("\n") else stderr + "\n")
        sys.stderr.flush()


# --------------------------------------------------------------- remote runs


@dataclass
class RemoteRun:
    """A run as the remote lists it (``guild runs list --json``)."""

    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data.get("id") or "")

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def status(self) -> str:
        return str(self.data.get("status") or "")

    @property
    def op_name(self) -> str:
        from luigi_guild.model.opref import OpRef

        try:
            return OpRef.parse(str(self.data.get("opref") or "")).display
        except ValueError:
            return ""

    @property
    def label(self) -> str:
        return str(self.data.get("label") or "")

    @property
    def started(self) -> Optional[int]:
        val = self.data.get("started")
        return val if isinstance(val, int) else None


def list_runs(host: "RemoteHost") -> list[RemoteRun]:
    """The remote's runs, newest first (one remote command)."""
    import json

    result = host.run(["runs", "list", "--json"], check=True)
    try:
        data = json.loads(result.stdout)
    except ValueError:
        raise GuildError("remote %s: cannot read its run list (not JSON)" % host.name) from None
    if not isinstance(data, list):
        raise GuildError("remote %s: cannot read its run list (not a list)" % host.name)
    runs = [RemoteRun(d) for d in data if isinstance(d, dict)]
    for r in runs:
        _check_run_id(host.name, r.id)
    return runs


def _check_run_id(remote: str, run_id: str) -> None:
    from luigi_guild.run.create import check_run_id

    try:
        check_run_id(run_id)
    except GuildError:
        raise GuildError("remote %s listed an invalid run ID %r" % (remote, run_id)) from None


def remote_rows(runs: Sequence[RemoteRun]) -> list[list[str]]:
    """Preview rows ``[shortid]  op  started  status  label`` for remote runs."""
    from luigi_guild.model.table import format_timestamp

    return [["[%s]" % r.short_id, r.op_name, format_timestamp(r.started), r.status, r.label] for r in runs]


# --------------------------------------------------------------------- pull


Confirm = Callable[[str, Sequence[Any]], None]


def pull(name: str, specs: Sequence[str], confirm: Optional[Confirm] = None) -> int:
    """Copy remote runs (``specs`` select them; default all) into the local Guild home.

    ``confirm(preview, runs)`` is called with the selected :class:`RemoteRun`
    list before copying (it may exit). Returns the number of runs copied.
    """
    from luigi_guild.store import query as runstore

    with connect(name) as host:
        runs = list_runs(host)
        selected = runstore.select(runs, list(specs), "pull") if specs else runs
        if not selected:
            _note("Nothing to copy.")
            return 0
        if confirm is not None:
            confirm("You are about to copy (pull) the following runs from %s:" % name, selected)
        fetch_runs(host, selected)
    return len(selected)


def fetch_runs(host: "RemoteHost", runs: Sequence[RemoteRun]) -> None:
    """Copy ``runs`` from the remote in one archive, then put each in place.

    The archive is unpacked in a hidden temporary directory beside the local
    runs, so a failed transfer leaves no half-copied run behind. A run the
    remote lists as running gets ``.guild/LOCK.remote`` (the remote's name);
    any other pulled run loses it.
    """
    from luigi_guild.model import home

    runs_root = home.runs_dir()
    os.makedirs(runs_root, exist_ok=True)
    tmp = os.path.join(runs_root, ".tmp-pull-%s" % uuid.uuid4().hex[:12])
    try:
        for r in runs:
            _note("Copying %s" % r.id)
        host.get_archive(
            posixpath.join(host.config.guild_home, "runs"),
            tmp,
            exclude=_excludes([r.id for r in runs]),
            members=[r.id for r in runs],
        )
        for r in runs:
            src = os.path.join(tmp, r.id)
            if not os.path.isdir(os.path.join(src, ".guild")):
                _note("Run %s is no longer on %s" % (r.id, host.name))
                continue
            _install_run(src, os.path.join(runs_root, r.id), host.name if r.status == "running" else None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _excludes(ids: Sequence[str]) -> list[str]:
    return ["%s/%s" % (run_id, pat) for run_id in ids for pat in RUN_EXCLUDES]


def _install_run(src: str, dest: str, running_on: Optional[str]) -> None:
    """Move a pulled run from ``src`` to ``dest`` (merging into an existing copy)."""
    from luigi_guild.model.atomic import write_file_atomic

    for name in ("LOCK", "LOCK.remote"):
        _remove(os.path.join(src, ".guild", name))
    if running_on:
        write_file_atomic(os.path.join(src, ".guild", "LOCK.remote"), running_on)
    if not os.path.lexists(dest):
        os.rename(src, dest)
        return
    if not os.path.isdir(dest) or os.path.islink(dest):
        raise GuildError("cannot copy run into %s: not a directory" % dest)
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target_dir = dest if rel == "." else os.path.join(dest, rel)
        if os.path.lexists(target_dir) and (os.path.islink(target_dir) or not os.path.isdir(target_dir)):
            os.unlink(target_dir)
        os.makedirs(target_dir, exist_ok=True)
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                filenames.append(d)
                dirnames.remove(d)
        for fname in filenames:
            target = os.path.join(target_dir, fname)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            os.replace(os.path.join(dirpath, fname), target)
    _remove(os.path.join(dest, ".guild", "LOCK"))
    if not running_on:
        _remove(os.path.join(dest, ".guild", "LOCK.remote"))


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------- push


def push(name: str, runs: Sequence["Run"], confirm: Optional[Confirm] = None) -> int:
    """Copy local ``runs`` to the remote's Guild home; returns how many.

    ``confirm(preview, runs)`` is called before copying (it may exit).
    """
    from luigi_guild.model import home

    if not runs:
        _note("Nothing to copy.")
        return 0
    if confirm is not None:
        confirm("You are about to copy (push) the following runs to %s:" % name, runs)
    with connect(name) as host:
        for r in runs:
            _note("Copying %s" % r.id)
        ids = [r.id for r in runs]
        host.put_archive(
            home.runs_dir(),
            posixpath.join(host.config.guild_home, "runs"),
            exclude=_excludes(ids),
            members=ids,
        )
    return len(runs)
