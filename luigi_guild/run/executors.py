"""Executors: how a batch of planned runs (jobs) gets executed, behind one base class with a registry by name.

``inline`` runs each job in this process, one after the other; ``detached``
starts each in the background and returns once it runs. Schedulers register
their own kinds (``luigi``, in :mod:`luigi_guild.tasks.executor`: workers and
a central scheduler). Every kind executes a job through
:func:`luigi_guild.run.pipeline.execute`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Sequence, TypeVar

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

    def execute(self, jobs: Sequence[Job]) -> list[Outcome]:
        outcomes = []
        for job in jobs:
            if self.stop is not None and self.stop():
                break
            outcomes.append(pipeline.execute(job.plan, job.opts))
        return outcomes


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
