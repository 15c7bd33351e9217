"""Executors: how a batch of planned runs (jobs) gets executed, behind one base class with a registry by name.

``inline`` runs each job in this process, one after the other; ``pool``
runs up to N at once from threads of this process; ``detached``
starts each in the background and returns once it runs. Schedulers register
their own kinds (``luigi``, in :mod:`luigi_guild.tasks.executor`: workers and
a central scheduler). Every kind executes a job through
:func:`luigi_guild.run.pipeline.execute`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Iterable, Sequence, Sized, TypeVar

from luigi_guild.model.errors import GuildError
from luigi_guild.model.outcome import Outcome
from luigi_guild.run import pipeline
from luigi_guild.run.plan import RunPlan


@dataclass
class Job:
    """One run to execute: its plan and options, plus what a scheduler needs to name it.

    ``operation`` and ``project_dir`` let schedulers that rebuild work from
    parameters (Luigi) resolve the same operation again; ``batch`` is the
    directory of the batch run a trial belongs to ('' for none).
    """

    plan: RunPlan
    opts: pipeline.RunOptions = field(default_factory=pipeline.RunOptions)
    operation: str = ""
    project_dir: str = ""
    batch: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Executor:
    """Executes jobs; subclasses set ``name`` and register with :func:`register`."""

    name: ClassVar[str] = ""
    in_order: ClassVar[bool] = True
    """Whether jobs run one after another, so a sweep hands over the jobs before a skipped trial first
    (its log then reads in trial order); False for executors that submit a whole chunk at once."""

    def execute(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Execute ``jobs``; returns one outcome per job executed here (in order)."""
        raise NotImplementedError


_E = TypeVar("_E", bound=type[Executor])
_REGISTRY: dict[str, type[Executor]] = {}


def register(cls: _E) -> _E:
    """Class decorator: make executor ``cls`` available under ``cls.name``."""
    if not cls.name:
        raise ValueError("executor class %s has no name" % cls.__name__)
    _REGISTRY[cls.name] = cls
    return cls


def executor_class(name: str) -> type[Executor]:
    """The executor kind registered as ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GuildError(
            "unknown executor '%s'" % name, hint="Known executors: %s." % ", ".join(sorted(_REGISTRY))
        ) from None


def names() -> list[str]:
    """Names of the registered executor kinds."""
    return sorted(_REGISTRY)


@register
class InlineExecutor(Executor):
    """Runs each job in this process and waits for it, in order."""

    name = "inline"

    def __init__(self, stop: Callable[[], bool] | None = None):
        self.stop = stop

    def execute(self, jobs: Iterable[Job]) -> list[Outcome]:
        outcomes = []
        for job in jobs:
            if self.stop is not None and self.stop():
                break
            outcomes.append(pipeline.execute(job.plan, job.opts))
        return outcomes


@register
class PoolExecutor(Executor):
    """Runs up to ``workers`` jobs at once, each from a thread of this process, in order of the list.

    A run is a subprocess that its thread waits for, so the threads spend
    their time waiting rather than holding the interpreter. With one worker
    the jobs run in the calling thread, as :class:`InlineExecutor` runs them.
    A job that raises does not stop the others: its error is reported on
    stderr as a warning and it has no outcome. ``stop`` is asked before each
    job starts. With several workers, runs echo whole lines only. Jobs are
    taken from the iterable one at a time as a worker is free (an error
    raised by the iterable itself stops the pool and is raised here).
    """

    name = "pool"

    def __init__(self, workers: int = 1, stop: Callable[[], bool] | None = None):
        self.workers = max(1, workers)
        self.stop = stop

    def execute(self, jobs: Iterable[Job]) -> list[Outcome]:
        import threading

        if self.workers == 1 or (isinstance(jobs, Sized) and len(jobs) <= 1):
            return InlineExecutor(self.stop).execute(jobs)
        todo = enumerate(jobs)
        outcomes: dict[int, Outcome] = {}
        failed: list[BaseException] = []
        lock = threading.Lock()

        def work() -> None:
            # Runs jobs until none is left. The thread outlives each run it starts: a run's
            # process gets SIGTERM when the thread that started it ends (PR_SET_PDEATHSIG).
            while True:
                with lock:
                    if failed or (self.stop is not None and self.stop()):
                        return
                    try:
                        i, job = next(todo)
                    except StopIteration:
                        return
                    except BaseException as e:  # planning the next job failed: no more start
                        failed.append(e)
                        return
                try:
                    outcomes[i] = pipeline.execute(job.plan, replace(job.opts, whole_lines=True))
                except Exception as e:  # reported, as a failed start; the other jobs go on
                    msg = "%s" % e
                    hint = getattr(e, "hint", None)
                    _warn(msg + ("\n" + hint if hint else ""))

        count = min(self.workers, len(jobs)) if isinstance(jobs, Sized) else self.workers
        threads = [threading.Thread(target=work, name="run-pool-%d" % n, daemon=True) for n in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)  # short waits: signal handlers run in this (the main) thread meanwhile
        if failed:
            raise failed[0]
        return [outcomes[i] for i in sorted(outcomes)]


def _warn(msg: str) -> None:
    import os
    import sys

    data = "".join("WARNING: [guild] %s\n" % line for line in msg.splitlines()).encode("utf-8", "replace")
    sys.stderr.flush()
    os.write(sys.stderr.fileno(), data)


@register
class DetachedExecutor(Executor):
    """Starts each job in the background (it survives this process) and returns once it runs."""

    name = "detached"

    def __init__(self, pidfile: str | None = None):
        self.pidfile = pidfile

    def execute(self, jobs: Sequence[Job]) -> list[Outcome]:
        return [
            pipeline.execute(job.plan, replace(job.opts, background=True, pidfile=self.pidfile or job.opts.pidfile))
            for job in jobs
        ]
