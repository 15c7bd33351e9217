"""Trial launcher: forks a sweep's trials from a warm interpreter instead of starting Python for each.

A sweep runs many short ``python -um luigi_guild.op_main ...`` processes, and
Python's own start-up is most of a trivial trial's cost. The launcher is one
helper process per ``guild run`` process (started at its first eligible
trial, ended with it): it keeps one child forked in advance, and on request
hands the request to that child (and forks the next), which becomes exactly what
``python -um luigi_guild.op_main ARGS`` started in the run directory would be
(argv, the run's whole environment, cwd, ``sys.path`` as Python computes it
from ``PYTHONPATH``, stdin/stdout/stderr, signal dispositions, ``-m``'s
``__main__``, exit status and tracebacks), and reports the child's pid at once
and its exit status (code, or signal as a negative number) when it ends.

:func:`spawn` is what :mod:`luigi_guild.run.process` calls: it returns a
handle that behaves as the ``subprocess.Popen`` of that command does (pid,
stdout/stderr pipes, ``poll``/``wait``), or None when the command is not
eligible (another program or interpreter, other ``PYTHON*`` or locale
variables than the launcher's, the launcher turned off with
``LUIGI_GUILD_LAUNCHER=0``, or a launcher that could not start), and the
caller starts it the usual way.

Lifetimes: the launcher exits when its ``guild run`` process closes its
control socket (also when that process is killed); a trial gets SIGTERM when
the launcher ends (``PR_SET_PDEATHSIG``) or when the thread of the
``guild run`` process waiting for it goes away.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import IO, Any

ENV_SWITCH = "LUIGI_GUILD_LAUNCHER"
_OP_MAIN = "luigi_guild.op_main"
# Variables the interpreter reads at start-up: a trial whose values differ from the launcher's starts fresh.
_STARTUP_VARS = ("LC_ALL", "LC_CTYPE", "LANG")
_PR_SET_PDEATHSIG = 1
_STATUS_LOST = -int(signal.SIGTERM)  # the launcher vanished: its trials were sent SIGTERM


# ------------------------------------------------------------------ the guild run side


class LaunchedProcess:
    """A trial forked by the launcher, seen as a ``subprocess.Popen``: pid, pipes, poll, wait."""

    def __init__(self, pid: int, sock: Any, stdout: IO[bytes] | None, stderr: IO[bytes] | None,
                 ready_fd: int | None = None):
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self._ready_fd = ready_fd
        self.returncode: int | None = None
        self._sock = sock
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        """The exit status if the trial has ended, else None (never blocks)."""
        if self.returncode is None and self._lock.acquire(blocking=False):
            try:
                self._read(block=False)
            finally:
                self._lock.release()
        return self.returncode

    def wait_ready(self) -> bool:
        """With a run set up in the child (:func:`spawn`'s ``setup``): wait until it is in place
        (True), or until the child gave up or died before that (False)."""
        fd, self._ready_fd = self._ready_fd, None
        if fd is None:
            return True
        try:
            while True:
                try:
                    return os.read(fd, 1) == b"1"
                except InterruptedError:
                    continue
        finally:
            os.close(fd)

    def wait(self) -> int:
        """Wait for the trial to end; its exit status (negative for a signal, as ``Popen``)."""
        import select

        while self.returncode is None:
            select.select([self._sock], [], [])
            with self._lock:
                self._read(block=False)
        return self.returncode

    def _read(self, block: bool) -> None:
        import socket

        if self.returncode is not None:
            return
        try:
            data = self._sock.recv(16, 0 if block else socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        self.returncode = int(data) if data else _STATUS_LOST
        self._sock.close()
        _untrack(self)


_running: dict[int, LaunchedProcess] = {}
_running_lock = threading.Lock()


def _untrack(proc: LaunchedProcess) -> None:
    with _running_lock:
        _running.pop(proc.pid, None)


def running_pids() -> list[int]:
    """Pids of the trials this process has running through its launcher (signals are passed to them)."""
    with _running_lock:
        return list(_running)


class _Launcher:
    """This process's connection to its launcher process."""

    def __init__(self) -> None:
        import socket
        import subprocess

        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # each trial's own PYTHONPATH is applied in its child
        self.env = env
        self.executable = sys.executable
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", "-c", "from luigi_guild.run.launcher import serve; serve(%d)" % child.fileno()],
                pass_fds=[child.fileno()],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            child.close()
        self.sock = parent
        self.lock = threading.Lock()
        self.broken = False
        import atexit

        atexit.register(self.close)

    def close(self) -> None:
        """End the launcher (it exits once its control socket closes) and wait for it."""
        import subprocess

        self.broken = True
        self.sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def eligible(self, cmd: list[str], env: dict[str, str]) -> bool:
        if len(cmd) < 4 or cmd[0] != self.executable or cmd[1] != "-um" or cmd[2] != _OP_MAIN:
            return False
        for name in set(env) | set(self.env):
            if (name.startswith("PYTHON") and name != "PYTHONPATH") or name in _STARTUP_VARS:
                if env.get(name) != self.env.get(name):
                    return False
        return True

    def launch(self, cmd: list[str], cwd: str, env: dict[str, str], stdin: int | None, stdout: int | None,
               stderr: int | None, setup: Any = None) -> LaunchedProcess | None:
        """Ask for a trial; None when the launcher is gone (the caller starts the trial itself)."""
        import marshal
        import socket

        request = marshal.dumps((cmd, cwd, env, setup))
        if len(request) > MAX_REQUEST:
            return None  # more than one message holds: the caller starts it the usual way
        out_r = err_r = ready_r = None
        close_after: list[int] = []
        devnull = None

        def fd_for(spec: int | None, default: int) -> int:
            nonlocal devnull
            if spec is None:
                return default
            if spec == _DEVNULL:
                if devnull is None:
                    devnull = os.open(os.devnull, os.O_RDWR)
                    close_after.append(devnull)
                return devnull
            return spec

        try:
            fds = [fd_for(stdin, 0)]
            if stdout == _PIPE:
                out_r, w = os.pipe()
                close_after.append(w)
                fds.append(w)
            else:
                fds.append(fd_for(stdout, 1))
            if stderr == _STDOUT:
                fds.append(fds[1])
            elif stderr == _PIPE:
                err_r, w = os.pipe()
                close_after.append(w)
                fds.append(w)
            else:
                fds.append(fd_for(stderr, 2))
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            close_after.append(theirs.detach())
            fds.append(close_after[-1])
            if setup is not None:
                ready_r, w = os.pipe()
                close_after.append(w)
                fds.append(w)
            with self.lock:
                if self.broken:
                    raise OSError("launcher gone")
                socket.send_fds(self.sock, [request], fds)
            data = mine.recv(16)
            if not data:
                raise OSError("launcher gone")
        except OSError:
            self.broken = True
            for fd in (out_r, err_r, ready_r):
                if fd is not None:
                    os.close(fd)
            return None
        finally:
            for fd in close_after:
                os.close(fd)
        proc = LaunchedProcess(
            int(data),
            mine,
            os.fdopen(out_r, "rb", buffering=0) if out_r is not None else None,
            os.fdopen(err_r, "rb", buffering=0) if err_r is not None else None,
            ready_r,
        )
        with _running_lock:
            _running[proc.pid] = proc
        return proc


# The largest request sent (a control message must fit the socket's default send buffer, ~208 KiB).
MAX_REQUEST = 200_000

# The same markers as subprocess's (PIPE -1, STDOUT -2, DEVNULL -3): callers pass those constants.
_PIPE, _STDOUT, _DEVNULL = -1, -2, -3

_state: dict[str, Any] = {}
_state_lock = threading.Lock()


def _shared() -> _Launcher | None:
    """This process's launcher, started on first use (None when it cannot be)."""
    with _state_lock:
        if _state.get("pid") != os.getpid():  # none yet, or inherited across a fork
            _state.clear()
            _state["pid"] = os.getpid()
            try:
                _state["launcher"] = _Launcher()
            except OSError:
                _state["launcher"] = None
        launcher = _state["launcher"]
    return None if launcher is None or launcher.broken else launcher


def enabled() -> bool:
    """Whether trials may go through a launcher (``LUIGI_GUILD_LAUNCHER=0`` turns it off)."""
    return os.environ.get(ENV_SWITCH, "1") not in ("0", "no", "false", "off")


def launches(cmd: list[str]) -> bool:
    """Whether ``cmd`` is a command the launcher starts (given an environment it accepts)."""
    return len(cmd) >= 4 and cmd[0] == sys.executable and cmd[1] == "-um" and cmd[2] == _OP_MAIN


def spawn(cmd: list[str], cwd: str, env: dict[str, str], stdin: int | None, stdout: int | None,
          stderr: int | None, setup: Any = None) -> LaunchedProcess | None:
    """Start ``cmd`` through this process's launcher; None when it is not eligible (start it yourself).

    ``stdin``/``stdout``/``stderr`` take ``subprocess.PIPE``/``STDOUT``/``DEVNULL``, a file
    descriptor, or None (this process's own), as ``Popen`` does.

    ``setup`` (see :func:`_set_up_run`) is a new run directory for the child
    to make before it becomes ``cmd`` (``cwd`` is that run directory): the
    files are written there, in parallel with the caller, rather than by it.
    Call :meth:`LaunchedProcess.wait_ready` to learn when the run is in place.
    """
    if not enabled() or len(cmd) < 4 or cmd[2] != _OP_MAIN:
        return None
    launcher = _shared()
    if launcher is None or not launcher.eligible(cmd, env):
        return None
    return launcher.launch(cmd, cwd, env, stdin, stdout, stderr, setup)


# ------------------------------------------------------------------ the launcher process


def serve(control_fd: int) -> None:  # pragma: no cover - runs in the launcher process
    """The launcher's loop: hand each request to a child forked in advance, report its pid and exit status.

    One spare child is always forked and waiting (:func:`_await_request`):
    a request is passed on to it whole (the message and its descriptors),
    its pid is reported, and only then is the next spare forked, so the
    fork and the child's own preparations happen while the trial before
    runs rather than between two trials.
    """
    import ctypes
    import gc
    import runpy  # noqa: F401 - warm: each child runs op_main through it
    import select
    import socket

    initial = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD)}
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        # Ctrl-C reaches the whole process group: the trials get it, this process reports their ends.
        signal.signal(s, signal.SIG_IGN)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    control = socket.socket(fileno=control_fd)
    base_path = sys.path[1:]  # without PYTHONPATH (unset for this process) and without ``-c``'s ''
    trials: dict[int, socket.socket] = {}  # pid -> the socket its requester waits on
    by_fd: dict[int, int] = {}  # that socket's fd -> pid
    poller = select.poll()
    poller.register(control, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    try:  # looked up here, once: importing ctypes would cost each child more than the rest of its start
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except Exception:
        prctl = None
    gc.freeze()
    me = os.getpid()
    spare: tuple[int, socket.socket] | None = None  # the child forked for the next request

    def fork_spare() -> tuple[int, socket.socket] | None:
        """A child that waits for one request (None when no process can be forked now)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            mine.close()
            theirs.close()
            return None
        if pid == 0:
            try:
                mine.close()
                control.close()
                for other in trials.values():
                    other.close()
                os.close(wake_r)
                os.close(wake_w)
                signal.set_wakeup_fd(-1)
                _await_request(theirs, initial, base_path, me, prctl)
            finally:
                os._exit(127)
        theirs.close()
        return pid, mine

    def hand_over(msg: bytes, fds: list[int]) -> int | None:
        """Pass a request to the spare (forked now if there is none); its pid, or None."""
        nonlocal spare
        for _attempt in range(2):
            if spare is None:
                spare = fork_spare()
                if spare is None:
                    return None
            pid, chan = spare
            spare = None
            try:
                socket.send_fds(chan, [msg], fds)
                return pid
            except OSError:  # the spare is gone (killed): try a new one
                continue
            finally:
                chan.close()
        return None

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            sock = trials.pop(pid, None)
            if sock is None:
                continue
            by_fd.pop(sock.fileno(), None)
            try:
                poller.unregister(sock)
            except KeyError:
                pass
            try:
                sock.send(b"%d" % os.waitstatus_to_exitcode(status))
            except OSError:
                pass
            sock.close()

    spare = fork_spare()
    while True:
        try:
            events = poller.poll()
        except InterruptedError:
            continue
        for fd, _ev in events:
            if fd == wake_r:
                os.read(wake_r, 512)
                reap()
            elif fd == control.fileno():
                try:
                    msg, fds, _flags, _addr = socket.recv_fds(control, 1 << 22, 8)
                except OSError:
                    msg, fds = b"", []
                if not msg:
                    for pid in trials:  # our guild run process is gone: so are its trials
                        try:
                            os.kill(pid, signal.SIGTERM)
                        except OSError:
                            pass
                    if spare is not None:  # it sees its channel close and exits: nothing outlives us
                        spare[1].close()
                        try:
                            os.waitpid(spare[0], 0)
                        except OSError:
                            pass
                    os._exit(0)
                reply = socket.socket(fileno=fds[3])
                child = hand_over(msg, fds[:3] + fds[4:])
                for f in fds[:3] + fds[4:]:
                    os.close(f)
                if child is None:  # no process could be forked: the requester starts the trial itself
                    reply.close()
                    continue
                try:
                    reply.send(b"%d" % child)
                except OSError:
                    pass
                trials[child] = reply
                by_fd[reply.fileno()] = child
                poller.register(reply, select.POLLIN)
                if spare is None:
                    spare = fork_spare()
            else:
                # The requesting thread went away (its socket closed): end its trial, as a
                # directly started trial ends when the thread that started it does.
                pid = by_fd.pop(fd, -1)
                try:
                    poller.unregister(fd)
                except KeyError:
                    pass
                if pid in trials:
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except OSError:
                        pass


def _await_request(chan: Any, initial: dict[Any, Any], base_path: list[str], launcher_pid: int,
                   prctl: Any) -> None:  # pragma: no cover - runs in a spare child of the launcher
    """In a spare child: wait for the request the launcher passes on, then become its trial.

    The request is ``(cmd, cwd, env, setup)`` with the trial's stdin, stdout
    and stderr and, with ``setup``, the pipe to report the run ready on. The
    launcher closing the channel unused (it is ending) ends this child.
    """
    import marshal
    import socket

    try:
        msg, fds, _flags, _addr = socket.recv_fds(chan, 1 << 22, 8)
    except OSError:
        msg, fds = b"", []
    chan.close()
    if not msg or len(fds) < 3:
        os._exit(0)
    cmd, cwd, env, setup = marshal.loads(msg)
    fd_in, fd_out, fd_err = fds[:3]
    ready = fds[3] if len(fds) > 3 else None
    if setup is not None and ready is not None:
        _set_up_run(setup, fd_err, ready, launcher_pid, prctl)
    _become(cmd, cwd, env, (fd_in, fd_out, fd_err), initial, base_path, launcher_pid, prctl)


_SETUP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _set_up_run(setup: Any, err_fd: int, ready_fd: int, launcher_pid: int,
                prctl: Any) -> None:  # pragma: no cover - runs in a trial
    """In the forked child, before it becomes the trial: make the trial's run directory.

    ``setup`` is ``(tmp, final, ops, marker)`` as
    :func:`luigi_guild.run.create.deferred_setup` builds it: the directory is
    assembled under ``tmp`` (``ops``: ``("d", rel)`` a directory, ``("f", rel,
    data, mode, exact)`` a new file (``exact``: its mode as given, not masked by the umask), ``("m", rel)`` a file naming this process
    (``marker % (pid, start time)``, as ``PENDING`` and ``LOCK`` do), ``("t",
    rel)`` the time now in microseconds), renamed to ``final``, then one
    byte written to ``ready_fd``. On an error the directory is removed, the reason written to
    ``err_fd`` and the child exits 1 (``ready_fd`` closed unwritten).
    SIGINT, SIGTERM and SIGHUP wait until the run is in place: one that came
    meanwhile then ends the child by its default action, as it would end the trial.
    """
    import time

    if prctl is not None:
        try:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except Exception:
            pass
    signal.pthread_sigmask(signal.SIG_BLOCK, _SETUP_SIGNALS)
    for s in _SETUP_SIGNALS:
        signal.signal(s, signal.SIG_DFL)
    if os.getppid() != launcher_pid:
        os._exit(128 + signal.SIGTERM)
    tmp, final, ops, marker = setup
    renamed = False
    try:
        pid = os.getpid()
        try:
            with open("/proc/self/stat", "rb") as f:
                stat = f.read()
            mark = (marker % (pid, int(stat[stat.rfind(b")") + 2 :].split()[19]))).encode()
        except (OSError, IndexError, ValueError):
            mark = b"%d" % pid
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
        os.mkdir(tmp)
        for op in ops:
            kind, path = op[0], os.path.join(tmp, op[1])
            if kind == "d":
                os.mkdir(path)
                continue
            exact = False
            if kind == "f":
                data, mode, exact = op[2], op[3], op[4]
            elif kind == "m":
                data, mode = mark, 0o600
            else:
                data, mode = b"%d\n" % int(time.time() * 1_000_000), 0o600
            fd = os.open(path, flags, mode)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if exact:
                    os.fchmod(fd, mode)  # a source file's own mode, not masked by the umask
            finally:
                os.close(fd)
        os.rename(tmp, final)
        renamed = True
        os.write(ready_fd, b"1")
    except OSError as e:
        if not renamed:
            for root, dirs, files in os.walk(tmp, topdown=False):
                for name in files:
                    _quietly(os.unlink, os.path.join(root, name))
                for name in dirs:
                    _quietly(os.rmdir, os.path.join(root, name))
            _quietly(os.rmdir, tmp)
        _quietly(os.write, err_fd, (e.strerror or str(e)).encode("utf-8", "replace"))
        os._exit(1)
    finally:
        os.close(ready_fd)
    pending = signal.sigpending() & set(_SETUP_SIGNALS)
    if pending:  # asked to stop while the run was made: end as the trial would have
        signal.pthread_sigmask(signal.SIG_UNBLOCK, pending)


def _quietly(fn: Any, *args: Any) -> None:  # pragma: no cover - runs in a trial
    try:
        fn(*args)
    except OSError:
        pass


def _become(cmd: list[str], cwd: str, env: dict[str, str], stdio: tuple[int, int, int], initial: dict[Any, Any],
            base_path: list[str], launcher_pid: int, prctl: Any) -> None:  # pragma: no cover - runs in a trial
    """In the forked child: turn into ``cmd`` (``python -um luigi_guild.op_main ...``) and exit with its status."""
    import io

    if prctl is not None:
        try:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except Exception:
            pass
    if os.getppid() != launcher_pid:
        os._exit(128 + signal.SIGTERM)
    for target, fd in enumerate(stdio):
        if fd != target:
            os.dup2(fd, target)
    for fd in set(stdio):
        if fd > 2:
            os.close(fd)
    for s, handler in initial.items():
        signal.signal(s, handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SETUP_SIGNALS)  # blocked while a run was set up
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    # sys.path as ``python -m`` computes it: cwd, then PYTHONPATH's entries, then the rest, without repeats.
    seen: set[str] = set()
    rest = []
    for entry in [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p] + base_path:
        entry = os.path.normcase(os.path.abspath(entry))
        if entry not in seen:
            seen.add(entry)
            rest.append(entry)
    sys.path[:] = [os.getcwd()] + rest
    sys.path_importer_cache.clear()
    encoding, errors = sys.stdin.encoding, str(sys.stdin.errors)  # as the launcher's own (same locale variables)
    streams = [_stdio(0, "rb", encoding, errors, io), _stdio(1, "wb", encoding, errors, io),
               _stdio(2, "wb", encoding, "backslashreplace", io)]
    for name, stream in zip(("stdin", "stdout", "stderr"), streams):
        setattr(sys, name, stream)
        setattr(sys, "__%s__" % name, stream)
    sys.argv[:] = ["-m"] + cmd[3:]
    sys.orig_argv[:] = cmd
    main = type(sys)("__main__")
    sys.modules["__main__"] = main
    os._exit(_run_main())


def _stdio(fd: int, mode: str, encoding: str, errors: str, io: Any) -> Any:  # pragma: no cover - in a trial
    """A standard stream as ``python -u`` makes it (unbuffered writes, buffered reads)."""
    raw = io.FileIO(fd, mode, closefd=False)
    raw.name = ("<stdin>", "<stdout>", "<stderr>")[fd]
    buf = raw if "w" in mode else io.BufferedReader(raw)
    return io.TextIOWrapper(buf, encoding, errors, "\n", line_buffering=False, write_through=True)


def _run_main() -> int:  # pragma: no cover - runs in a trial
    """Run op_main as ``-m`` does and finish as the interpreter would: the exit status."""
    import runpy

    interrupted = False
    try:
        runpy._run_module_as_main(_OP_MAIN)  # type: ignore[attr-defined]
        status = 0
    except SystemExit as e:
        status = _exit_status(e.code)
    except BaseException as e:
        interrupted = isinstance(e, KeyboardInterrupt)
        tb = e.__traceback__.tb_next if e.__traceback__ is not None else None  # from runpy on, as ``-m``
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        status = 1
    status = _finalize(status)
    if interrupted:  # as Python does: end by the signal itself
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return status


def _exit_status(code: object) -> int:  # pragma: no cover - runs in a trial
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write("%s\n" % (code,))
    except Exception:
        pass
    return 1


def _finalize(status: int) -> int:  # pragma: no cover - runs in a trial
    """Non-daemon threads, atexit functions, flushed streams: what the interpreter does on its way out."""
    threading_mod = sys.modules.get("threading")
    if threading_mod is not None:
        try:
            threading_mod._shutdown()  # type: ignore[attr-defined]
        except BaseException:
            pass
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            if stream is sys.stdout and status == 0:
                status = 120
    return status
