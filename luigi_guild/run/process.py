"""The operation's process: started in its run directory, with LOCK, output and exit status recorded.

The calling process is the child's direct parent: it writes ``.guild/LOCK``
(the child's pid), tees the child's output to the terminal and to
``.guild/output`` (+ ``output.index``), forwards termination signals, and
records ``exit_status`` and ``stopped`` when the child exits.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import struct
import subprocess
import sys
import time
from typing import IO, Any, Callable, Iterator

from luigi_guild.model import exitcodes, home
from luigi_guild.model import flags as flagslib
from luigi_guild.model import opdef as opdeflib
from luigi_guild.model.errors import GuildError
from luigi_guild.model.atomic import create_replacing, remove_stale_temps
from luigi_guild.store.rundir import Run, now_us, process_marker

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.run.capture import ScalarCapture
    from luigi_guild.run.plan import RunPlan

_SECRET_RE = re.compile(r"password|token|secret", re.IGNORECASE)
_FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

# Signals this process received and forwarded to a child (sweeps stop on them).
interrupts: list[int] = []
_PR_SET_PDEATHSIG = 1


@contextlib.contextmanager
def passing_signals_on(on_signal: Callable[[int], None]) -> Iterator[None]:
    """While in the block, SIGTERM, SIGINT and SIGHUP do not end this process: each is
    recorded (:data:`interrupts`), given to ``on_signal`` and passed on to this
    process's child processes (the workers running a sweep's trials, whose
    :func:`run_process` passes it to the trial's script in turn).

    The caller then waits for the children as usual, so nothing is left
    running, and decides the exit code (128 + signal). Outside the main
    thread this does nothing.
    """

    def handler(signum: int, _frame: object) -> None:
        interrupts.append(signum)
        on_signal(signum)
        for pid in _child_pids():
            try:
                os.kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    with _handling(handler):
        yield


@contextlib.contextmanager
def _handling(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for SIGTERM, SIGINT and SIGHUP while in the block, the old handlers after it.

    Outside the main thread, where handlers cannot be set, this does nothing.
    """
    old_handlers = {}
    for sig in _FORWARDED_SIGNALS:
        try:
            old_handlers[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, old in old_handlers.items():
            signal.signal(sig, old)


class _Forwarder:
    """The signal handler while a run's process starts and runs: each SIGTERM, SIGINT or SIGHUP is
    noted in ``interrupts`` and passed on to the process (``proc``, once there is one)."""

    def __init__(self) -> None:
        self.proc: Any = None  # a subprocess.Popen, or the launcher's handle that behaves as one
        self.received: list[int] = []
        self.forwarded: list[int] = []
        # Signals this process got so far: one arriving later, while the child is being started
        # from a thread other than the main one (a sweep's pool), is passed on by catch_up.
        self.before = len(interrupts)

    def __call__(self, signum: int, _frame: object) -> None:
        self.received.append(signum)
        interrupts.append(signum)
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.kill(proc.pid, signum)
                self.forwarded.append(signum)
            except ProcessLookupError:
                pass

    def catch_up(self) -> None:
        """Pass on to the process, now that it exists, a signal that came before it did."""
        if self.received and not self.forwarded:  # to this handler
            os.kill(self.proc.pid, self.received[-1])
        elif not self.received and len(interrupts) > self.before:  # to the main thread meanwhile
            os.kill(self.proc.pid, interrupts[-1])


def _child_pids() -> list[int]:
    """Pids of this process's live children, and of the trials its launcher forked for it."""
    import psutil

    from luigi_guild.run import launcher

    try:
        return [c.pid for c in psutil.Process().children()] + launcher.running_pids()
    except psutil.Error:
        return launcher.running_pids()


_prctl: list[Any] = []


def _prctl_function() -> Any:
    """libc's ``prctl``, looked up once in this process (None where there is none)."""
    if not _prctl:
        try:
            import ctypes

            _prctl.append(ctypes.CDLL(None, use_errno=True).prctl)
        except Exception:
            _prctl.append(None)
    return _prctl[0]


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A preexec function: the child gets SIGTERM when its parent dies.

    ``prctl`` is looked up here, in the parent: the forked child only calls
    it, importing nothing (a sweep's other threads may hold the import lock
    when it forks, and an import would cost every run's start).
    """
    prctl = _prctl_function()
    sigterm = signal.SIGTERM

    def preexec() -> None:  # pragma: no cover - runs in the child
        if prctl is not None:
            try:
                prctl(_PR_SET_PDEATHSIG, sigterm)
            except Exception:
                pass
        # The parent may have died before prctl took effect.
        if os.getppid() != parent_pid:
            os._exit(128 + sigterm)

    return preexec


def write_lock(run: Run, pid: int) -> None:
    """Record ``pid`` in ``.guild/LOCK``: the pid padded to 10 characters, then its start time.

    Guild reads the first 10 characters as the pid; we also check the start
    time so a pid reused by an unrelated process does not read ``running``.
    """
    run.write_file(".guild/LOCK", process_marker(pid))


class _OutputSink:
    """Writes child output to ``.guild/output`` and one index record per line."""

    def __init__(self, run: Run, echo: bool, whole_lines: bool = False, capture: ScalarCapture | None = None,
                 made: bool = False):
        self.capture = capture
        # New files replace old output (and any link put in its place): never written through.
        # ``made``: the trial's process made them, empty, with its run (:func:`start_files`), so a
        # running run always has them; they are opened for appending, never through a link.
        # Plain descriptors, written with one call per chunk of output (no file objects to set up).
        gfd = run.open_dir(".guild")

        def open_file(name: str) -> int:
            if made:
                return os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=gfd)
            return create_replacing(name, gfd)

        try:
            self.out: int | None = open_file("output")
            try:
                self.index: int | None = open_file("output.index")
            except BaseException:
                os.close(self.out)
                raise
        finally:
            os.close(gfd)
        self.echo = echo
        # Echo only complete lines, each batch in one write: processes sharing a terminal never split a line.
        self.whole_lines = whole_lines
        self.pending = {0: b"", 1: b""}
        self.at_line_start = {0: True, 1: True}
        self.error: OSError | None = None

    def write(self, data: bytes, stream: int) -> None:
        """Echo ``data`` and save it; a failed save (disk full) stops saving, not the run."""
        if self.echo:
            self._echo(data, stream)
        if self.capture is not None:
            self.capture.feed(data, stream)
        if self.error is not None:
            return
        try:
            self._save(data, stream)
        except OSError as e:
            self.error = e

    def _echo(self, data: bytes, stream: int) -> None:
        target = sys.stdout.buffer if stream == 0 else sys.stderr.buffer
        try:
            if not self.whole_lines:
                target.write(data)
                target.flush()
                return
            data = self.pending[stream] + data
            cut = data.rfind(b"\n") + 1
            self.pending[stream] = data[cut:]
            if cut:
                target.flush()
                _write_lines(target.fileno(), data[:cut])
        except (BrokenPipeError, ValueError, OSError):
            self.echo = False

    def flush_pending(self) -> None:
        """Echo what is left of an unfinished last line, ended with a newline (only on the terminal)."""
        for stream, rest in self.pending.items():
            if rest and self.echo:
                self.pending[stream] = b""
                self._echo(rest + b"\n", stream)

    def _save(self, data: bytes, stream: int) -> None:
        assert self.out is not None and self.index is not None
        _write_all(self.out, data)
        record = struct.pack(">QB", int(time.time() * 1000), stream)
        records = []
        start = 0
        while start < len(data):
            if self.at_line_start[stream]:
                records.append(record)
            nl = data.find(b"\n", start)
            if nl < 0:
                self.at_line_start[stream] = False
                break
            self.at_line_start[stream] = True
            start = nl + 1
        if records:
            _write_all(self.index, b"".join(records))

    def close(self) -> None:
        self.flush_pending()
        if self.capture is not None:
            self.capture.close()
        for fd in (self.out, self.index):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError as e:
                    self.error = self.error or e
        self.out = self.index = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_lines(fd: int, data: bytes) -> None:
    """Write whole lines to ``fd``, at most ``PIPE_BUF`` bytes per call where lines allow (atomic on pipes)."""
    limit = _pipe_buf()
    while data:
        if len(data) <= limit:
            chunk = data
        else:
            cut = data.rfind(b"\n", 0, limit) + 1
            chunk = data[: cut or len(data)]
        while chunk:
            n = os.write(fd, chunk)
            data = data[n:]
            chunk = chunk[n:]


def _pipe_buf() -> int:
    """Bytes a single write to a pipe delivers without interleaving (POSIX ``PIPE_BUF``)."""
    import select

    return getattr(select, "PIPE_BUF", 512)


def run_process(
    run: Run,
    cmd: list[str],
    env: dict[str, str],
    echo: bool = True,
    whole_lines: bool = False,
    capture: ScalarCapture | None = None,
    launch: bool = False,
    stop_after: float | None = None,
    keep_stdin: bool = False,
) -> int:
    """Run ``cmd`` with cwd = the run dir; returns its exit status (negative for signals).

    Expects PENDING to be present (naming this process); it is removed once
    the LOCK names the child, so the run never reads ``error`` while it is
    starting (it reads ``pending`` until the child exists). The LOCK is
    written once, as a new file: on ext4 a file that replaced another by
    rename has its blocks allocated at once, which made removing the LOCK at
    the end cost milliseconds per run (more under load). Raises GuildError
    when the run directory cannot be written (disk full, read-only). With
    ``launch`` (a sweep's trials) an eligible command is forked by the trial
    launcher (:mod:`luigi_guild.run.launcher`) rather than started afresh.
    """
    # NO_RUN_OUTPUT=1 (as in Guild): the child writes straight to our stdout/stderr; no .guild/output.
    no_output = os.environ.get("NO_RUN_OUTPUT") == "1"
    try:
        run.reserve_attrs(_END_ATTRS)
        run.remove("LOCK")  # a restart's earlier life (the new one is created, not renamed over it)
        sink = _OutputSink(run, echo, whole_lines, capture) if not no_output else None
    except OSError as e:
        raise GuildError("cannot start run %s: %s" % (run.id, e.strerror or e)) from None
    merge = os.environ.get("SYNC_RUN_OUTPUT") == "1"
    out: Any = subprocess.PIPE
    err: Any = subprocess.STDOUT if merge else subprocess.PIPE
    if no_output:
        out = err = None if echo else subprocess.DEVNULL
    proc: Any = None
    forward = _Forwarder()
    with _handling(forward):
        try:
            # The child reads our stdin only from a terminal, or when a debugger needs it (--break-on-error).
            stdin = subprocess.DEVNULL if not keep_stdin and (not sys.stdin or not sys.stdin.isatty()) else None
            if launch:
                from luigi_guild.run import launcher

                proc = forward.proc = launcher.spawn(cmd, run.path, env, stdin, out, err)
            try:
                if proc is None:
                    proc = forward.proc = subprocess.Popen(
                        cmd,
                        cwd=run.path,
                        env=env,
                        stdin=stdin,
                        stdout=out,
                        stderr=err,
                        preexec_fn=_die_with_parent(os.getpid()),
                    )
            except OSError as e:
                message = ("guild: cannot start %s: %s\n" % (cmd[0], e.strerror)).encode()
                if sink is not None:
                    sink.write(message, 1)
                    sink.close()
                else:
                    sys.stderr.buffer.write(message)
                run.remove("PENDING")
                _finish(run, 127)
                return 127
            try:
                write_lock(run, proc.pid)
            except OSError as e:
                if sink is not None:
                    sink.error = sink.error or e
            try:
                run.remove("PENDING")
            except OSError as e:
                if sink is not None:
                    sink.error = sink.error or e
            forward.catch_up()
            timer = _stop_timer(proc, stop_after) if stop_after is not None else None
            if sink is not None:
                _pump(proc, sink)
            returncode = proc.wait()
            if timer is not None:
                timer.cancel()
        finally:
            if sink is not None:
                sink.close()
    _finish(run, returncode)
    if sink is not None and sink.error is not None:
        raise GuildError(
            "run %s exited with status %d but its output could not be saved: %s"
            % (run.id, returncode, sink.error.strerror or sink.error),
            exit_code=exitcodes.for_exit_status(returncode) or 1,
        )
    return returncode


def _stop_timer(proc: Any, minutes: float) -> Any:
    """``--stop-after``: after ``minutes`` the process gets SIGTERM, and SIGKILL if it is still
    there ``STOP_AFTER_KILL_DELAY`` seconds (default 30) later, as Guild does."""
    import threading

    started = time.time()

    def stop() -> None:
        if proc.poll() is not None:
            return
        sys.stderr.write("Stopping process early (pid %d) - %.1f minute(s) elapsed\n"
                         % (proc.pid, (time.time() - started) / 60))
        sys.stderr.flush()
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        kill_at = time.time() + float(os.environ.get("STOP_AFTER_KILL_DELAY") or 30)
        while proc.poll() is None and time.time() < kill_at:
            time.sleep(0.1)
        if proc.poll() is None:
            sys.stderr.write("WARNING: Process did not terminate (pid %d), killing\n" % proc.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)

    timer = threading.Timer(max(minutes, 0) * 60, stop)
    timer.daemon = True
    timer.start()
    return timer


def _pump(proc: Any, sink: _OutputSink) -> None:
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    streams: list[tuple[IO[bytes], int]] = [(proc.stdout, 0)]
    if proc.stderr is not None:
        streams.append((proc.stderr, 1))
    for f, stream in streams:
        sel.register(f, selectors.EVENT_READ, stream)
    open_count = len(streams)
    while open_count:
        for key, _ in sel.select():
            try:
                data = os.read(key.fd, 65536)
            except InterruptedError:
                continue
            if not data:
                sel.unregister(key.fileobj)
                open_count -= 1
                continue
            sink.write(data, key.data)
    sel.close()


# Attrs recorded when the run ends: space for them is set aside at start, so a
# full disk (filled by the run's output or by the script) cannot lose them.
_END_ATTRS = ("exit_status", "stopped")


def _finish(run: Run, returncode: int) -> None:
    try:
        run.write_reserved_attrs({"exit_status": returncode, "stopped": now_us()})  # the _END_ATTRS
    except OSError as e:
        # Leave the LOCK: its process is gone, so the run reads ``error``.
        raise GuildError(
            "cannot record the exit status (%d) of run %s: %s" % (returncode, run.id, e.strerror or e),
            exit_code=exitcodes.for_exit_status(returncode) or 1,
        ) from None
    run.remove("LOCK")


# ------------------------------------------------------------- starting a plan


def op_env(plan: RunPlan) -> dict[str, str]:
    """The operation's own variables (flags, its ``env``, project dir), without the inherited environment.

    ``guild run --print-env`` shows these; a run gets them on top of ours (see :func:`child_env`).
    """
    env: dict[str, str] = {}
    for name, val in plan.flags.items():
        env["FLAG_" + re.sub(r"\W", "_", name).upper()] = flagslib.env_val(val)
    op_cmd = plan.op_attr.get("op-cmd") or {}
    for name, val in (op_cmd.get("cmd-env") or {}).items():
        if name == "PYTHONPATH":
            # Its first entry is the run's source copy, which :func:`_pythonpath` puts first itself;
            # the rest (if any) stands for what the run inherits.
            sc = plan.op_attr.get("sourcecode")
            rest = opdeflib.without_source_path(str((sc.get("dest") if isinstance(sc, dict) else None) or "."), str(val))
            if rest:
                env["PYTHONPATH"] = rest
            continue
        env[str(name)] = str(val)
    env["PROJECT_DIR"] = plan.project_dir or ""
    # --no-gpus hides every GPU; --gpus DEVICES shows only those (both kept in run_params for restarts).
    if plan.run_params.get("no_gpus"):
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif plan.run_params.get("gpus") is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(plan.run_params["gpus"])
    if plan.run_params.get("break_on_error"):
        env["BREAK_ON_ERROR"] = "1"
    if plan.run_params.get("debug_sourcecode"):
        env["DEBUG_SOURCECODE"] = os.pathsep.join(plan.run_params["debug_sourcecode"])
    if plan.run_params.get("break"):
        env["PDB_BREAKS"] = " ".join(plan.run_params["break"])
    return env


def _pythonpath(plan: RunPlan, run_path: str, inherited: str | None) -> str:
    """The run's PYTHONPATH: its copy of the source first (``--debug-sourcecode`` paths before it),
    then whatever was inherited."""
    pythonpath = list(plan.run_params.get("debug_sourcecode") or []) + [run_path]
    dest = (plan.op_attr.get("sourcecode") or {}).get("dest") if isinstance(plan.op_attr.get("sourcecode"), dict) else None
    if isinstance(dest, str) and dest not in ("", ".") and not os.path.isabs(dest):
        pythonpath.insert(pythonpath.index(run_path), os.path.join(run_path, dest))  # the run's copy of the source (sourcecode dest)
    pythonpath += [inherited] if inherited else []
    return os.pathsep.join(pythonpath)


def print_env(plan: RunPlan) -> dict[str, str]:
    """What ``--print-env`` shows: :func:`op_env` plus PYTHONPATH, with the run directory as ``.``."""
    env = op_env(plan)
    env["PYTHONPATH"] = _pythonpath(plan, ".", os.environ.get("PYTHONPATH"))
    return env


_environ_seen: list[Any] = []


def _environ() -> dict[str, str]:
    """A copy of ``os.environ``; decoded once while it stays the same (a sweep copies it per trial)."""
    raw = getattr(os.environ, "_data", None)
    if not isinstance(raw, dict):
        return dict(os.environ)
    if not _environ_seen or _environ_seen[0] != raw:
        _environ_seen[:] = [dict(raw), dict(os.environ)]
    return dict(_environ_seen[1])


def child_env(run: Run, plan: RunPlan) -> dict[str, str]:
    """The operation's environment: ours plus run and flag variables."""
    env = _environ()
    env.update(op_env(plan))
    env.update(
        {
            "RUN_DIR": run.path,
            "RUN_ID": run.id,
            "GUILD_HOME": home.guild_home(),
            "GUILD_OP": plan.op_name,
            "CMD_DIR": os.getcwd(),
            # As Guild gives it: inherited, else INFO (``guild --debug`` sets 10 for everything it starts).
            "LOG_LEVEL": os.environ.get("LOG_LEVEL") or "20",
            "GUILD_SOURCECODE": _sourcecode_env(plan),
        }
    )
    env["PYTHONPATH"] = _pythonpath(plan, run.path, env.get("PYTHONPATH"))
    return env


def _sourcecode_env(plan: RunPlan) -> str:
    """``GUILD_SOURCECODE`` as Guild sets it: the ``--debug-sourcecode`` paths, else the source's place in the run."""
    debug = plan.run_params.get("debug_sourcecode")
    if debug:
        return os.pathsep.join(str(p) for p in debug)
    sc = plan.op_attr.get("sourcecode")
    dest = sc.get("dest") if isinstance(sc, dict) else None
    return str(dest) if dest else "."


_secret: dict[str, bool] = {}


def env_attr(env: dict[str, str]) -> dict[str, str]:
    """The ``env`` attr: the run's environment without variables that look secret."""
    secret = _secret
    for k in env:
        if k not in secret:
            secret[k] = bool(_SECRET_RE.search(k))
    return {k: v for k, v in env.items() if not secret[k]}


def start_files() -> list[tuple[Any, ...]]:
    """What :func:`start` adds to a run before its process starts, as ops for a trial that sets up
    its own run (see :func:`luigi_guild.run.launcher.spawn`): ``started``, the space for the end
    attrs, and empty ``output`` and ``output.index`` (a running run has them). The ``LOCK`` naming
    the trial's process is the caller's to place (:func:`luigi_guild.run.create.deferred_run` writes
    it first)."""
    from luigi_guild.store.rundir import RESERVE_BYTES, RESERVE_PREFIX

    ops: list[tuple[Any, ...]] = [("t", ".guild/attrs/started")]
    ops += [("f", ".guild/attrs/" + RESERVE_PREFIX + name, b" " * RESERVE_BYTES, 0o600, False) for name in _END_ATTRS]
    ops += [("f", ".guild/output", b"", 0o644, False), ("f", ".guild/output.index", b"", 0o644, False)]
    return ops


def deferrable(plan: RunPlan, cmd: list[str]) -> bool:
    """Whether a run of ``plan`` may be set up and started by a forked trial (:func:`start_deferred`)."""
    from luigi_guild.run import launcher

    params = plan.run_params
    return (launcher.enabled() and os.environ.get("NO_RUN_OUTPUT") != "1" and params.get("stop_after") is None
            and not params.get("break_on_error") and not params.get("break") and launcher.launches(cmd))


def start_deferred(run: Run, plan: RunPlan, env: dict[str, str], prepared: Any, echo: bool = True,
                   whole_lines: bool = False, on_ready: Callable[[], None] | None = None) -> int | None:
    """Start the run's process through the trial launcher, which first makes the run (``prepared``:
    the command and the files, from :func:`luigi_guild.run.create.deferred_run`) in the forked child; wait for it and record
    its end as :func:`run_process` does. ``on_ready`` is called once the run is in place.

    None when the launcher declines the command (nothing was made: create the run and
    :func:`start` it). Raises GuildError when the child could not make the run.
    """
    from luigi_guild.run import launcher
    from luigi_guild.run.capture import for_plan

    cmd, setup = prepared
    merge = os.environ.get("SYNC_RUN_OUTPUT") == "1"
    forward = _Forwarder()
    with _handling(forward):
        stdin = subprocess.DEVNULL if not sys.stdin or not sys.stdin.isatty() else None
        proc = forward.proc = launcher.spawn(cmd, run.path, env, stdin, subprocess.PIPE,
                                             subprocess.STDOUT if merge else subprocess.PIPE, setup=setup)
        if proc is None:
            return None
        forward.catch_up()  # the child holds such a signal until its run is in place
        ready = proc.wait_ready()
        if not ready:
            said = b"".join(_drain(f) for f in (proc.stdout, proc.stderr) if f is not None)
            returncode = proc.wait()
            if not os.path.isdir(run.guild_path()):
                reason = said.decode("utf-8", "replace").strip() or "its process ended (%d) first" % returncode
                raise GuildError("cannot create run %s: %s" % (run.id, reason))
            if on_ready is not None:  # made, but the child was killed before it said so
                on_ready()
            _finish(run, returncode)
            return returncode
        if on_ready is not None:
            on_ready()
        sink: _OutputSink | None = None
        try:
            capture = for_plan(run.guild_path(), plan.op_attr, plan.flags, note=True)  # a trial: its objective is asked next
            sink = _OutputSink(run, echo, whole_lines, capture, made=True)
            _pump(proc, sink)
        except OSError as e:
            if sink is None:  # no output files: the run cannot go on
                os.kill(proc.pid, signal.SIGTERM)
                for f in (proc.stdout, proc.stderr):
                    if f is not None:
                        _drain(f)
                _finish(run, proc.wait())
                raise GuildError("cannot start run %s: %s" % (run.id, e.strerror or e)) from None
            raise
        finally:
            if sink is not None:
                sink.close()
        returncode = proc.wait()
    _finish(run, returncode)
    if sink.error is not None:
        raise GuildError(
            "run %s exited with status %d but its output could not be saved: %s"
            % (run.id, returncode, sink.error.strerror or sink.error),
            exit_code=exitcodes.for_exit_status(returncode) or 1,
        )
    return returncode


def _drain(f: IO[bytes]) -> bytes:
    chunks: list[bytes] = []
    while True:
        data = f.read(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def start(run: Run, plan: RunPlan, echo: bool = True, whole_lines: bool = False, launch: bool = False) -> int:
    """Start the run's process and wait for it; returns its exit status."""
    env = child_env(run, plan)
    for sub in ("attrs", ""):  # left by a writer killed mid-write (a restart's earlier life)
        remove_stale_temps(run.guild_path(sub))
    try:
        run.write_attrs({"started": now_us(), "env": env_attr(env)})
    except OSError as e:
        raise GuildError("cannot start run %s: %s" % (run.id, e.strerror or e)) from None
    from luigi_guild.run.capture import for_plan

    capture = for_plan(run.guild_path(), plan.op_attr, plan.flags, note=launch)  # trials (launch): see start_deferred
    stop_after = plan.run_params.get("stop_after")
    return run_process(run, plan.cmd(), env, echo=echo, whole_lines=whole_lines, capture=capture, launch=launch,
                       stop_after=float(stop_after) if stop_after is not None else None,
                       keep_stdin=bool(plan.run_params.get("break_on_error") or plan.run_params.get("break")))
