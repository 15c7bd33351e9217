"""How luigi-guild hands tasks to Luigi: local or central scheduler, quiet logging.

Only sweeps, ``--build-deps`` and the Luigi API come here, so this module
(and Luigi) is imported only on those paths.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any, Iterable

from luigi_guild.model.errors import GuildError

_LUIGI_LOGGERS = ("luigi", "luigi-interface", "luigi.scheduler", "luigi.worker", "luigi.rpc")


@dataclass
class Scheduler:
    """Where tasks are scheduled: ``host`` None means Luigi's local scheduler."""

    host: str | None = None
    port: int = 8082

    @property
    def central(self) -> bool:
        return self.host is not None

    def describe(self) -> str:
        return "%s:%d" % (self.host, self.port) if self.central else "local"


def scheduler_for(host: str | None = None, port: int | None = None) -> Scheduler:
    """The scheduler from options, else luigi.cfg ``[core] scheduler_host/port`` (or ``default-scheduler-host/port``).

    A port alone (option) means a central scheduler on localhost.
    """
    import luigi.configuration

    cfg = luigi.configuration.get_config()
    if host is None:
        for name in ("scheduler_host", "scheduler-host", "default-scheduler-host", "default_scheduler_host"):
            if cfg.has_option("core", name):
                host = cfg.get("core", name) or None
                break
    if host is None and port is not None:
        host = "localhost"
    if port is None:
        port = 8082
        for name in ("scheduler_port", "scheduler-port", "default-scheduler-port", "default_scheduler_port"):
            if cfg.has_option("core", name):
                try:
                    port = int(cfg.get("core", name))
                except ValueError:
                    raise GuildError("invalid [core] %s in luigi.cfg: %r" % (name, cfg.get("core", name))) from None
                break
    if not 0 < port < 65536:
        raise GuildError("invalid scheduler port %d: expected 1-65535" % port)
    return Scheduler(host, port)


def check_reachable(sched: Scheduler, timeout: float = 3.0) -> None:
    """Fail fast with one clear error when the central scheduler does not answer."""
    if not sched.central:
        return
    try:
        with socket.create_connection((sched.host, sched.port), timeout=timeout):
            pass
    except OSError as e:
        raise GuildError(
            "cannot reach the central scheduler at %s: %s" % (sched.describe(), e.strerror or e),
            hint="Start it with 'luigid --port %d' or check --scheduler-host/--scheduler-port." % sched.port,
        ) from None


def quiet_luigi() -> None:
    """Keep Luigi's own log lines (summaries, task tracebacks) off the terminal."""
    import luigi.setup_logging

    luigi.setup_logging.InterfaceLogging._configured = True  # we configure (silence) its loggers
    debug = os.environ.get("LOG_LEVEL", "").strip() == str(logging.DEBUG)  # ``guild --debug``: Luigi's logs too
    for name in _LUIGI_LOGGERS:
        log = logging.getLogger(name)
        log.setLevel(logging.DEBUG if debug else logging.CRITICAL)
        log.propagate = debug


def build(tasks: Iterable[Any], sched: Scheduler | None = None, workers: int = 1) -> Any:
    """``luigi.build`` on ``sched``; returns Luigi's detailed run result.

    With a central scheduler the worker stays alive while tasks it needs are
    running in other workers (so it returns only once they are done), and
    polls often.
    """
    import luigi
    import luigi.interface
    import luigi.worker

    sched = sched or Scheduler()
    quiet_luigi()
    params: dict[str, Any] = {
        "workers": max(1, int(workers)),
        "detailed_summary": True,
        "no_lock": True,
    }
    if sched.central:
        params.update(local_scheduler=False, scheduler_host=sched.host, scheduler_port=sched.port)
    else:
        params["local_scheduler"] = True
    return luigi.build(list(tasks), worker_scheduler_factory=_Factory(sched.central), **params)


class _Factory:
    """Luigi's worker/scheduler factory with our worker settings."""

    def __init__(self, central: bool):
        self.central = central

    def create_local_scheduler(self) -> Any:
        import luigi.scheduler

        return luigi.scheduler.Scheduler(prune_on_get_work=True, record_task_history=False, retry_count=1)

    def create_remote_scheduler(self, url: str) -> Any:
        import luigi.rpc

        return luigi.rpc.RemoteScheduler(url)

    def create_worker(self, scheduler: Any, worker_processes: int, assistant: bool = False) -> Any:
        import luigi.worker

        kw: dict[str, Any] = {"wait_interval": 0.1, "wait_jitter": 0.05, "check_complete_on_run": False}
        if self.central:
            kw.update(keep_alive=True, ping_interval=1.0)
        return luigi.worker.Worker(
            scheduler=scheduler, worker_processes=worker_processes, assistant=assistant, **kw
        )
