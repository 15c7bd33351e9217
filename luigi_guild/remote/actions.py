"""What ``-r REMOTE`` does on a remote that is another Guild home: run, forward commands, list, pull, push.

:class:`GuildHomeRemote` implements :class:`~luigi_guild.remote.base.Remote`
once for every kind whose far side is a Guild home with this program's
``guild`` in it (``ssh``, ``local``). A kind only says how to reach that home
(:meth:`GuildHomeRemote.open`, a :class:`~luigi_guild.remote.host.GuildHost`);
the rest is here: the project is shipped as a package and the run started
detached with the remote's own ``guild run --background``, then watched; runs
are listed with ``guild runs list --json``; run directories are copied as
archives (lock files excluded) and installed locally without half-copies.

Imports nothing that connects: a kind's ``open`` does that.
"""

from __future__ import annotations

import abc
import os
import posixpath
import shutil
import sys
import uuid
from typing import TYPE_CHECKING, Any, Callable, Generic, Mapping, Optional, Sequence, TypeVar

from luigi_guild.model.errors import GuildError
from luigi_guild.remote.base import Confirm, Remote, RemoteDown, RemoteRun, RemoteRunRequest, RemoteStatus, remote_for
from luigi_guild.model.status import Status
from luigi_guild.remote.archive import drop_unsafe
from luigi_guild.remote.host import ConnectionLost, HostConfig

if TYPE_CHECKING:  # pragma: no cover
    from typing import Self  # Python 3.11+: annotations only

    from luigi_guild.remote.host import GuildHost
    from luigi_guild.store.rundir import Run

_C = TypeVar("_C", bound=HostConfig)

# Never copied between hosts: lock files (a run's liveness belongs to the host
# it runs on) and Guild's per-run job package directory.
RUN_EXCLUDES = (".guild/LOCK*", ".guild/job-packages")

STATUS_TIMEOUT = 60.0
"""Seconds ``guild remote status`` waits for the remote's ``guild --version``."""


class GuildHomeRemote(Remote, Generic[_C]):
    """A remote whose far side is a Guild home run by its own ``guild``.

    A kind provides :meth:`open` and its config parser :attr:`parse_config`
    (``parse_config = staticmethod(parse_KIND)``).
    """

    parse_config: Callable[[str, Mapping[str, Any], Optional[str]], _C]
    """The kind's validation of a resolved config section into its config (name and Guild home at least)."""

    def __init__(self, config: _C) -> None:
        super().__init__(config.name)
        self.config = config

    @classmethod
    def from_config(cls, name: str, section: Mapping[str, Any], config_path: Optional[str]) -> Self:
        return cls(cls.parse_config(name, section, config_path))

    @abc.abstractmethod
    def open(self) -> "GuildHost[_C]":
        """A host for this remote (connecting when entered as a context manager)."""

    def where(self) -> str:
        """Where the remote is, for ``guild remote status`` (default: its Guild home)."""
        return self.config.guild_home

    # --------------------------------------------------------------- status

    def status(self, verbose: bool = False) -> RemoteStatus:
        """Reach the host and run its ``guild --version`` there; :class:`RemoteDown` when either fails."""
        details = [("type", self.kind), ("location", self.describe())]
        try:
            with self.open() as host:
                result = host.run(["--version"], timeout=STATUS_TIMEOUT)
                if result.exit_code != 0:
                    raise RemoteDown(self.name, "'guild --version' failed with exit code %d" % result.exit_code)
                details.append(("guild", result.stdout.strip() or result.stderr.strip()))
                details += self.status_details(host)
        except ConnectionLost as e:
            raise RemoteDown(self.name, e.message) from None
        except RemoteDown:
            raise
        except GuildError as e:
            raise RemoteDown(self.name, e.message) from None
        return RemoteStatus(self.where(), details if verbose else [])

    def status_details(self, host: "GuildHost[_C]") -> list[tuple[str, str]]:
        """Extra checks and ``-v`` details of a kind, once its ``guild`` answered (default: none)."""
        return []

    # -------------------------------------------------------------- forward

    def forward(
        self,
        args: Sequence[str],
        env: Optional[Mapping[str, str]] = None,
        merge_stderr: bool = False,
        stdin: bool = True,
    ) -> int:
        sys.stdout.flush()
        with self.open() as host:
            result = host.run(list(args), env=env, stream=True, merge_stderr=merge_stderr, stdin=stdin)
        return result.exit_code

    def watch(self, args: Sequence[str]) -> int:
        try:
            return self.forward(["watch", *args], merge_stderr=True, stdin=False)
        except KeyboardInterrupt:
            _note("Stopped watching remote run")
            return 0
        except ConnectionLost as e:
            again = " ".join(["guild", "watch", *args, "-r", self.name])
            raise _lost(e, "while watching", "a run being watched goes on there; watch it again with '%s'" % again) from None

    # ------------------------------------------------------------------ run

    def run(self, req: RemoteRunRequest) -> int:
        """Ship the project, start the run detached on the remote and (unless ``no_wait``) watch it.

        Returns the local exit code: 0 once a watched run has stopped, whatever
        its status (the status line says how it ended).
        """
        name = self.name
        run_id = req.restart or uuid.uuid4().hex
        with self.open() as host:
            if req.package is not None:
                _note("Copying package to %s" % name)
                try:
                    host.put_archive(
                        req.package.project_dir,
                        posixpath.join(host.guild_home, req.package.remote_dir),
                        members=list(req.package.files),
                    )
                except ConnectionLost as e:
                    raise _lost(e, "while copying the package", "no run was started there") from None
            if req.restart:
                _note("%s %s on %s" % ("Staging" if req.stage else "Restarting", run_id, name))
            else:
                _note("%s %s on %s as %s" % ("Staging" if req.stage else "Starting", req.opspec, name, run_id))
            try:
                result = host.run(remote_run_args(req, run_id), in_guild_home=True)
            except ConnectionLost as e:
                raise _lost(
                    e,
                    "while starting run %s" % run_id,
                    "it may have started there; check with 'guild runs info %s -r %s' and watch it with 'guild watch %s -r %s'"
                    % (run_id, name, run_id, name),
                ) from None
            if result.exit_code != 0:
                _echo_captured(result.stdout, result.stderr)
                raise SystemExit(result.exit_code)
            if req.needed and result.stdout.startswith("Skipping"):
                _echo_captured(result.stdout, result.stderr)
                return 0
            if req.stage:
                _out("%s staged on %s as %s" % (req.opspec or run_id, name, run_id))
                _out("To start the operation, use 'guild run -r %s --start %s'" % (name, run_id))
                return 0
            if req.no_wait:
                _out("%s is running on %s" % (run_id, name))
                _out("To watch use 'guild watch %s -r %s'" % (run_id, name))
                return 0
            sys.stdout.flush()
            try:
                watched = host.run(["watch", run_id], env={"NO_WATCHING_MSG": "1"}, stream=True, merge_stderr=True)
            except ConnectionLost as e:
                raise _lost(
                    e,
                    "while watching run %s" % run_id,
                    "the run goes on there; watch it again with 'guild watch %s -r %s'" % (run_id, name),
                ) from None
            except KeyboardInterrupt:
                _note("Detached from remote run %s (still running)" % run_id)
                _note("To re-attach use 'guild watch %s -r %s'" % (run_id, name))
                return 0
        if watched.exit_code != 0:
            raise GuildError(
                "cannot watch run %s on %s" % (run_id, name),
                hint="Try 'guild runs info %s -r %s' to check it." % (run_id[:8], name),
            )
        return 0

    # ------------------------------------------------------------ runs, pull, push

    def list_runs(self) -> list[RemoteRun]:
        with self.open() as host:
            return list_runs(host)

    def pull(
        self,
        specs: Sequence[str],
        confirm: Optional[Confirm] = None,
        filters: Sequence[str] = (),
        delete: bool = False,
    ) -> int:
        from luigi_guild.store import query as runstore

        with self.open() as host:
            runs = list_runs(host, filters)
            selected = runs
            if specs:
                # select() is typed for local runs but only uses .id, which RemoteRun has too.
                selected = runstore.select(runs, list(specs), "pull")  # type: ignore[arg-type, assignment]
            if not selected:
                _note("Nothing to copy.")
                return 0
            if confirm is not None:
                confirm("You are about to copy (pull) the following runs from %s:" % self.name, selected)
            try:
                fetch_runs(host, selected, delete)
            except ConnectionLost as e:
                raise _lost(e, "while copying runs", "no run was copied; pull again with 'guild pull %s'" % self.name) from None
        return len(selected)

    def sync(self, run_ids: Sequence[str]) -> list[str]:
        wanted = set(run_ids)
        found = [r for r in self.list_runs() if r.id in wanted]
        listed = {r.id for r in found}
        for run_id in run_ids:
            if run_id not in listed:
                _note("WARNING: cannot sync run %s: remote %s no longer has it" % (run_id, self.name))
        if found:
            with self.open() as host:
                try:
                    fetch_runs(host, found)
                except ConnectionLost as e:
                    raise _lost(e, "while syncing runs", "their local copies are as they were; sync again") from None
        return [r.id for r in found if r.status == Status.RUNNING]

    def push(self, runs: Sequence["Run"], confirm: Optional[Confirm] = None, delete: bool = False) -> int:
        from luigi_guild.model import home

        if not runs:
            _note("Nothing to copy.")
            return 0
        if confirm is not None:
            confirm("You are about to copy (push) the following runs to %s:" % self.name, runs)
        with self.open() as host:
            for r in runs:
                _note("Copying %s" % r.id)
            ids = [r.id for r in runs]
            remote_runs = posixpath.join(host.guild_home, "runs")
            # With delete, the runs go to a staging directory there and then replace the old copies whole.
            dest = posixpath.join(remote_runs, "%s%s" % (_PUSH_PREFIX, uuid.uuid4().hex[:12])) if delete else remote_runs
            try:
                host.put_archive(home.runs_dir(), dest, exclude=run_excludes(ids), members=ids)
                if delete:
                    host.replace_dirs(dest, ids, remote_runs)
            except ConnectionLost as e:
                raise _lost(
                    e, "while copying runs", "runs there may be incomplete; push again with 'guild push %s'" % self.name
                ) from None
        return len(runs)


def connect(name: str) -> "GuildHost[Any]":
    """A (not yet entered) host for configured remote ``name``, which must be a Guild home."""
    remote = remote_for(name)
    if not isinstance(remote, GuildHomeRemote):
        raise GuildError("remote %s: type %s does not reach a Guild home" % (name, remote.kind))
    return remote.open()


def remote_run_args(req: RemoteRunRequest, run_id: str) -> list[str]:
    """Arguments for the remote ``guild run`` (run in the remote Guild home)."""
    args = ["run", "--yes", "--quiet"]
    if not req.stage:
        args += ["--background", "--pidfile", "runs/%s/.guild/JOB" % run_id]
    if req.restart:
        args += ["--restart", req.restart]
    else:
        assert req.package is not None
        args += ["--project-dir", req.package.remote_dir, "--package", req.package.name, "--run-id", run_id]
    if req.stage:
        args.append("--stage")
    return args + request_run_args(req)


def request_run_args(req: RemoteRunRequest) -> list[str]:
    """The tail of a remote ``guild run`` for ``req``: its options shared by every kind, the operation, its flags."""
    args = []
    if req.needed:
        args.append("--needed")
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


def list_runs(host: "GuildHost", filters: Sequence[str] = ()) -> list[RemoteRun]:
    """The host's runs, newest first (one ``guild runs list --json [FILTERS]`` there)."""
    import json

    result = host.run(["runs", "list", "--json", *filters], check=True)
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


def fetch_runs(host: "GuildHost", runs: Sequence[RemoteRun], delete: bool = False) -> None:
    """Copy ``runs`` from the host in one archive, then put each in place.

    The archive is unpacked in a hidden temporary directory beside the local
    runs, so a failed transfer leaves no half-copied run behind. A run the
    host lists as running gets ``.guild/LOCK.remote`` (the remote's name);
    any other pulled run loses it. With ``delete``, a local copy is replaced
    whole (files the remote run no longer has go); else the copy is merged in.
    """
    from luigi_guild.model import home

    runs_root = home.runs_dir()
    os.makedirs(runs_root, exist_ok=True)
    _clean_dead_pulls(runs_root)
    tmp = os.path.join(runs_root, "%s%d-%s" % (_PULL_PREFIX, os.getpid(), uuid.uuid4().hex[:12]))
    stop = _CleanupOnSignal()
    try:
        for r in runs:
            _note("Copying %s" % r.id)
        host.get_archive(
            posixpath.join(host.guild_home, "runs"),
            tmp,
            exclude=run_excludes([r.id for r in runs]),
            members=[r.id for r in runs],
        )
        for r in runs:
            src = os.path.join(tmp, r.id)
            if not os.path.isdir(os.path.join(src, ".guild")):
                _note("Run %s is no longer on %s" % (r.id, host.name))
                continue
            drop_unsafe(src)  # links leaving the run, setuid bits: never brought in
            _install_run(src, os.path.join(runs_root, r.id), host.name if r.status == Status.RUNNING else None, delete)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        stop.restore()


_PULL_PREFIX = ".tmp-pull-"
_PUSH_PREFIX = ".tmp-push-"


def _clean_dead_pulls(runs_root: str) -> None:
    """Remove ``.tmp-pull-<pid>-*`` directories of pulls whose process is gone (killed with SIGKILL)."""
    from luigi_guild.store.rundir import pid_alive

    try:
        names = [n for n in os.listdir(runs_root) if n.startswith(_PULL_PREFIX)]
    except OSError:
        return
    for name in names:
        pid_text = name[len(_PULL_PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit() and not pid_alive(int(pid_text)):
            shutil.rmtree(os.path.join(runs_root, name), ignore_errors=True)


class _CleanupOnSignal:
    """While a pull copies, SIGTERM and SIGHUP end it through its ``finally`` (exit 128 + signal),
    so no ``.tmp-pull-*`` directory is left behind."""

    def __init__(self) -> None:
        import signal

        self._old: dict[int, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                self._old[sig] = signal.signal(sig, self._raise)
            except ValueError:  # not the main thread
                pass

    @staticmethod
    def _raise(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    def restore(self) -> None:
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}


def _lost(e: GuildError, doing: str, state: str) -> GuildError:
    """One line for a dropped connection: what was going on and what state it left."""
    return GuildError("%s (%s); %s" % (e.message, doing, state))


def run_excludes(ids: Sequence[str]) -> list[str]:
    """Archive exclude patterns for copying the runs ``ids`` (relative to a runs directory)."""
    return ["%s/%s" % (run_id, pat) for run_id in ids for pat in RUN_EXCLUDES]


def _install_run(src: str, dest: str, running_on: Optional[str], replace: bool = False) -> None:
    """Move a pulled run from ``src`` to ``dest`` (merging into an existing copy, or replacing it)."""
    from luigi_guild.model.atomic import write_file_atomic

    for name in ("LOCK", "LOCK.remote"):
        _remove(os.path.join(src, ".guild", name))
    if running_on:
        write_file_atomic(os.path.join(src, ".guild", "LOCK.remote"), running_on)
    if replace and os.path.lexists(dest):
        old = os.path.join(os.path.dirname(src), ".old-" + os.path.basename(dest))
        os.rename(dest, old)  # beside src, in the pull's temporary directory: removed with it
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


def _note(msg: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _out(msg: str) -> None:
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def _echo_captured(stdout: str, stderr: str) -> None:
    if stdout:
        sys.stdout.write(stdout if stdout.endswith("\n") else stdout + "\n")
        sys.stdout.flush()
    if stderr:
        sys.stderr.write(stderr if stderr.endswith("\n") else stderr + "\n")
        sys.stderr.flush()
