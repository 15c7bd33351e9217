"""Background services of ``guild sys``: a daemon with a pidfile and a log in Guild home, and the two services.

A service runs a loop either in the foreground (log lines on stderr) or
detached: a forked child in its own session that writes its pid to
``$GUILD_HOME/proc/NAME`` and its log to ``$GUILD_HOME/log/NAME`` (rotated
by :class:`logging.handlers.RotatingFileHandler`), as Guild keeps them.
The pidfile is created exclusively, so two starts cannot both win; the
child removes it when it ends (SIGTERM ends it cleanly). A pidfile whose
process is gone, or is not one of ours (a reused pid), is stale.

The services: the shutdown timer (shut the machine down once no run has
been running in this Guild home for a while; the command is configurable
and ``--dont-shutdown`` only logs) and S3 sync (``aws s3 sync`` of the runs
directory every few seconds, which needs the AWS command line). A service
whose Guild home is removed ends.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import pid_alive

Loop = Callable[[logging.Logger], None]

DEFAULT_LOG_MAX_SIZE = 102400
DEFAULT_LOG_BACKUPS = 1


@dataclass(frozen=True)
class Service:
    """A named service: ``name`` for its files and commands, ``title`` for messages."""

    name: str
    title: str

    @property
    def pidfile(self) -> str:
        return os.path.join(home.guild_home(), "proc", self.name)

    @property
    def logfile(self) -> str:
        return os.path.join(home.guild_home(), "log", self.name)

    @property
    def stop_cmd(self) -> str:
        return "guild sys %s stop" % self.name

    @property
    def status_cmd(self) -> str:
        return "guild sys %s status" % self.name


SHUTDOWN_TIMER = Service("shutdown-timer", "Shutdown timer")
S3_SYNC = Service("s3-sync", "S3 sync service")


@dataclass(frozen=True)
class ServiceStatus:
    """``running`` with its ``pid``; or a ``stale`` pidfile (its pid gone or not ours); or neither."""

    running: bool
    pid: Optional[int] = None
    stale: bool = False


def status(service: Service) -> ServiceStatus:
    """Whether the service runs, from its pidfile (an unreadable pidfile is an error)."""
    try:
        with open(service.pidfile) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return ServiceStatus(False)
    except OSError as e:
        raise GuildError("error reading pid in %s: %s" % (service.pidfile, e.strerror or e)) from None
    if not text:  # being written by a start that is under way
        return ServiceStatus(True)
    try:
        pid = int(text)
    except ValueError:
        raise GuildError("error reading pid in %s: not a pid: %r" % (service.pidfile, text[:40])) from None
    if _ours(pid, service):
        return ServiceStatus(True, pid)
    return ServiceStatus(False, pid, stale=True)


def _ours(pid: int, service: Service) -> bool:
    """Whether ``pid`` is alive and a ``guild sys NAME`` process (not a reused pid)."""
    if not pid_alive(pid):
        return False
    import psutil

    try:
        cmdline = psutil.Process(pid).cmdline()
    except (psutil.Error, OSError):
        return False
    return "sys" in cmdline and service.name in cmdline


def start(service: Service, loop: Loop, foreground: bool, log_max_size: int = DEFAULT_LOG_MAX_SIZE,
          log_backups: int = DEFAULT_LOG_BACKUPS, wait: float = 10.0) -> Optional[int]:
    """Run ``loop`` in the foreground, or detached (returns the daemon's pid once its pidfile names it)."""
    if foreground:
        log = _logger(service, logging.StreamHandler(sys.stderr))
        _run_loop(loop, log)
        return None
    fd = _claim_pidfile(service)
    from luigi_guild.run.background import fork_flushed, leave_session

    pid = fork_flushed()
    if pid == 0:  # pragma: no cover - runs in the forked child
        code = 0
        try:
            leave_session()
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.makedirs(os.path.dirname(service.logfile), exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                service.logfile, maxBytes=log_max_size, backupCount=log_backups
            )
            _run_loop(loop, _logger(service, handler))
        except BaseException:  # noqa: BLE001 - the daemon must always clean up
            code = 1
        finally:
            _remove_pidfile(service, os.getpid())
            os._exit(code)
    os.close(fd)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if status(service).pid == pid:
            return pid
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            raise GuildError("%s did not start (see %s)" % (service.title, service.logfile))
        time.sleep(0.02)
    raise GuildError("%s did not start within %d seconds" % (service.title, wait))


def _claim_pidfile(service: Service) -> int:
    """Create the pidfile exclusively (removing a stale one first); raises when the service runs."""
    os.makedirs(os.path.dirname(service.pidfile), exist_ok=True)
    for _ in range(2):
        try:
            return os.open(service.pidfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            state = status(service)
            if state.running:
                raise GuildError(
                    "%s is already running (use '%s' to verify)" % (service.title, service.status_cmd)
                ) from None
            _remove_pidfile(service, state.pid)
    raise GuildError("cannot create %s" % service.pidfile)


def _remove_pidfile(service: Service, pid: Optional[int]) -> None:
    """Remove the pidfile if it still names ``pid`` (or is empty or unreadable)."""
    try:
        with open(service.pidfile) as f:
            text = f.read().strip()
        if text and pid is not None and text != str(pid):
            return
        os.remove(service.pidfile)
    except OSError:
        pass


def _logger(service: Service, handler: logging.Handler) -> logging.Logger:
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log = logging.getLogger("luigi_guild.service." + service.name)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.handlers[:] = [handler]
    return log


def _run_loop(loop: Loop, log: logging.Logger) -> None:
    """Run ``loop``; SIGTERM and Ctrl-C end it with a ``Stopping`` line."""

    def _term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _term)
    try:
        loop(log)
    except KeyboardInterrupt:
        pass
    except Exception:  # noqa: BLE001 - logged: the service has nowhere else to report
        log.exception("service stopped on an error")
    finally:
        signal.signal(signal.SIGTERM, old)
    log.info("Stopping")


def stop(service: Service, wait: float = 10.0) -> Optional[int]:
    """Stop the service (SIGTERM, then wait for it to end); returns its pid, or None when it was not running.

    A stale pidfile is removed.
    """
    state = status(service)
    if state.stale:
        _remove_pidfile(service, state.pid)
        return None
    if not state.running or state.pid is None:
        return None
    try:
        os.kill(state.pid, signal.SIGTERM)
    except ProcessLookupError:
        return state.pid
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and pid_alive(state.pid):
        time.sleep(0.05)
    return state.pid


# ------------------------------------------------------------------ shutdown timer

CHECK_INTERVAL = 5.0
HEARTBEAT = 60.0


@dataclass(frozen=True)
class TimerSettings:
    """``timeout`` in minutes (fractions allowed); the shutdown ``command``; ``dont_shutdown`` only logs."""

    timeout: float
    command: Sequence[str]
    dont_shutdown: bool = False


def shutdown_command(grace_period: int, su: bool) -> list[str]:
    """Guild's shutdown command: ``[sudo] shutdown +GRACE``."""
    return (["sudo"] if su else []) + ["shutdown", "+%d" % grace_period]


def running_runs() -> list[str]:
    """Ids of the runs running in this Guild home (runs running on a remote do not count)."""
    from luigi_guild.model.status import Status
    from luigi_guild.store import query as runstore

    return [r.id for r in runstore.list_runs() if r.status == Status.RUNNING and not r.remote]


def shutdown_timer(settings: TimerSettings) -> Loop:
    """The timer's loop: watch for running runs; after ``timeout`` minutes without any, run the command."""

    def loop(log: logging.Logger) -> None:
        timeout_s = settings.timeout * 60
        interval = max(0.05, min(CHECK_INTERVAL, timeout_s / 4))
        log.info("%s started with timeout = %sm", SHUTDOWN_TIMER.title, _minutes(settings.timeout))
        if settings.dont_shutdown:
            log.info("%s WILL NOT SHUTDOWN system because --dont-shutdown was used", SHUTDOWN_TIMER.title)
        last_activity = time.monotonic()
        last_logged: tuple[Optional[list[str]], float] = (None, 0.0)
        while _home_exists(log):
            runs = running_runs()
            now = time.monotonic()
            if runs:
                last_activity = now
            if runs != last_logged[0] or now - last_logged[1] >= HEARTBEAT:
                if runs:
                    log.info("Active runs: %s", ", ".join(r[:8] for r in runs))
                else:
                    log.info("No runs for %s", _duration(now - last_activity))
                last_logged = (runs, now)
            if now - last_activity >= timeout_s:
                _shutdown(settings, log)
                return
            time.sleep(interval)

    return loop


def _shutdown(settings: TimerSettings, log: logging.Logger) -> None:
    log.info("RUN ACTIVITY TIMEOUT - SHUTTING DOWN SYSTEM")
    if settings.dont_shutdown:
        log.info("SHUTDOWN would occur but --dont-shutdown was used")
        return
    log.info("Running %s", " ".join(settings.command))
    try:
        proc = subprocess.run(list(settings.command), stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except OSError as e:
        log.error("cannot run %s: %s", settings.command[0], e.strerror or e)
        return
    if proc.returncode != 0:
        log.error("%s failed with exit code %d: %s", settings.command[0], proc.returncode, (proc.stderr or "").strip())


def _home_exists(log: logging.Logger) -> bool:
    """Whether the Guild home the service serves still exists (a service for a removed home ends)."""
    if os.path.isdir(home.guild_home()):
        return True
    log.info("Guild home %s no longer exists", home.guild_home())
    return False


def _minutes(m: float) -> str:
    return "%d" % m if m == int(m) else "%g" % m


def _duration(seconds: float) -> str:
    s = int(seconds)
    return "%d second(s)" % s if s < 60 else "%d minute(s)" % (s // 60)


# ------------------------------------------------------------------ S3 sync

AWS_CLI_HELP = "https://docs.aws.amazon.com/cli/latest/userguide/installing.html"


def check_aws_cli() -> str:
    """The ``aws`` command's path; raises Guild's error when it is not installed."""
    exe = shutil.which("aws")
    if exe is None:
        raise GuildError(
            "%s requires the AWS Command Line Interface" % S3_SYNC.name,
            hint="Refer to %s for details." % AWS_CLI_HELP,
        )
    return exe


def s3_uri(uri: str) -> str:
    """``s3://BUCKET[/PATH]`` normalised (no trailing slash); raises for anything else."""
    import re

    m = re.match(r"s3://([^/]+)(.*)\Z", uri)
    if not m:
        raise GuildError("URI must be in the format s3://BUCKET[/PATH]")
    bucket, path = m.groups()
    path = path.rstrip("/")
    return "s3://%s%s" % (bucket, path)


def s3_sync(uri: str, interval: float, aws: str = "aws") -> Loop:
    """The S3 sync loop: ``aws s3 sync --delete --size-only --no-progress RUNS URI/runs/``, then wait."""

    def loop(log: logging.Logger) -> None:
        runs_dir = home.runs_dir()
        log.info("%s started", S3_SYNC.title)
        log.info("Synchronizing %s with runs in %s", uri, runs_dir)
        while _home_exists(log):
            started = time.monotonic()
            log.info("Sync started")
            cmd = [aws, "s3", "sync", "--delete", "--size-only", "--no-progress", runs_dir, uri + "/runs/"]
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            except OSError as e:
                log.error("cannot run %s: %s", aws, e.strerror or e)
            else:
                assert proc.stdout is not None
                for line in proc.stdout:
                    log.info(line.decode("utf-8", "replace").rstrip("\n"))
                code = proc.wait()
                if code != 0:
                    log.error("aws s3 sync failed with exit code %d", code)
            log.info("Sync stopped")
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    return loop
