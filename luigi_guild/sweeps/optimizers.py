"""Optimizers: the ask/tell seam that chooses a sweep's trials, the registry by name, grid and random search.

An optimizer is made for one sweep from its search spaces (the flag
values, merged with each batch file row: one space per row, in order),
``max_trials`` and a seed. It is asked for trials (:meth:`Optimizer.ask`)
and may be told what became of them (:meth:`Optimizer.tell`) until it is
:attr:`~Optimizer.exhausted`.

Grid and random search do not learn, so the driver asks for every trial
up front (:func:`trial_values`) and never tells. An optimizer that learns
(Bayesian search, e.g. Optuna) registers under its own name and is asked
in rounds, told each round's results before the next::

    @register
    class Mine(Optimizer):
        name = "mine"

        def ask(self, n: int = 1) -> list[dict[str, Any]]: ...

        @property
        def exhausted(self) -> bool: ...

Importing this module does not import ``random``, ``csv``, ``json`` or PyYAML.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from luigi_guild.model.errors import GuildError
from luigi_guild.sweeps.trials import SweepSpec, grid_size, is_function, iter_grid, iter_random_trials, read_batch_file

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_RANDOM_TRIALS = 20
_ASK_ALL_CHUNK = 1000

_registry: dict[str, type[Optimizer]] = {}
_O = TypeVar("_O", bound="type[Optimizer]")


# ---------------------------------------------------------------- protocol


@dataclass(frozen=True)
class TrialResult:
    """What became of a trial: its run status and, where the operation logged one, its objective."""

    status: str
    objective: float | None = None


class Optimizer:
    """Chooses the trials of one sweep: ``ask`` for flag values, ``tell`` outcomes, until ``exhausted``.

    ``spaces`` are the flag values to search, one mapping per batch file row
    (``[flags]`` without batch files); a value may be a list (choices) or a
    flag function such as ``[1:10]`` or ``loguniform[1e-4:1]``.
    """

    name: ClassVar[str] = ""

    def __init__(self, spaces: list[dict[str, Any]], max_trials: int | None, seed: int) -> None:
        if max_trials is not None and max_trials < 1:
            raise ValueError("max_trials must be positive, not %d" % max_trials)
        self.spaces = [dict(space) for space in spaces]
        self.max_trials = max_trials
        self.seed = seed
        self.results: list[tuple[dict[str, Any], TrialResult]] = []

    def ask(self, n: int = 1) -> list[dict[str, Any]]:
        """Flag values of up to ``n`` more trials; fewer (or none) when there are no more to give now."""
        raise NotImplementedError

    def tell(self, flags: dict[str, Any], result: TrialResult) -> None:
        """Report what became of an asked trial (kept in :attr:`results`; grid and random search do not use it)."""
        self.results.append((dict(flags), result))

    @property
    def exhausted(self) -> bool:
        """Whether :meth:`ask` has no more trials to give."""
        raise NotImplementedError


class FixedOptimizer(Optimizer):
    """An optimizer whose trials are fixed by its inputs: :attr:`total` of them, in one order.

    Subclasses give :meth:`_trials` (a generator: trials are made when asked
    for) and :attr:`total`. Telling results changes nothing.
    """

    def __init__(self, spaces: list[dict[str, Any]], max_trials: int | None, seed: int) -> None:
        super().__init__(spaces, max_trials, seed)
        self.asked = 0
        self._pending: Iterator[dict[str, Any]] | None = None
        self._dry = False

    @property
    def total(self) -> int:
        """How many trials this optimizer gives in all."""
        raise NotImplementedError

    def _trials(self) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def ask(self, n: int = 1) -> list[dict[str, Any]]:
        if n < 0:
            raise ValueError("cannot ask for %d trials" % n)
        if self._pending is None:
            self._pending = self._trials()
        trials = list(itertools.islice(self._pending, n))
        self.asked += len(trials)
        if len(trials) < n:
            self._dry = True
        return trials

    @property
    def exhausted(self) -> bool:
        return self._dry or self.asked >= self.total


# ---------------------------------------------------------------- registry


def register(cls: _O) -> _O:
    """Class decorator: make an :class:`Optimizer` subclass available as ``--optimizer <cls.name>``."""
    if not cls.name:
        raise ValueError("optimizer class %s has no name" % cls.__name__)
    known = _registry.get(cls.name)
    if known is not None and known is not cls:
        raise ValueError("optimizer '%s' is already registered (%s)" % (cls.name, known.__name__))
    _registry[cls.name] = cls
    return cls


def names() -> list[str]:
    """Registered optimizer names, in registration order."""
    return list(_registry)


def optimizer_class(name: str) -> type[Optimizer]:
    """The optimizer registered as ``name``; a :class:`GuildError` naming the supported ones otherwise."""
    cls = _registry.get(name)
    if cls is None:
        raise GuildError("unsupported optimizer '%s'" % name, hint="Supported optimizers: %s." % ", ".join(names()))
    return cls


def resolve_name(optimizer: str | None, flags: dict[str, Any]) -> str:
    """The optimizer a sweep uses: ``--optimizer`` (None or ``+`` for the default) given ``flags``.

    The default is grid search, or random search when a flag value is a
    flag function (which grid search cannot sample).
    """
    if optimizer in (None, "+", "grid"):
        if any(is_function(v) for v in flags.values()):
            if optimizer is None or optimizer == "+":
                return RandomSearch.name
            raise GuildError("grid search cannot sample flag functions; use --optimizer random")
        return GridSearch.name
    return optimizer_class(optimizer).name


# ------------------------------------------------------------- grid, random


@register
class GridSearch(FixedOptimizer):
    """Every combination of list values, space by space (flag name, then value order).

    With ``max_trials`` smaller than the grid, that many trials are picked
    with ``random.Random(seed)`` and keep their grid order.
    """

    name = "grid"

    def __init__(self, spaces: list[dict[str, Any]], max_trials: int | None, seed: int) -> None:
        super().__init__(spaces, max_trials, seed)
        self.size = sum(grid_size(space) for space in self.spaces)

    @property
    def total(self) -> int:
        return self.size if self.max_trials is None else min(self.size, self.max_trials)

    def _trials(self) -> Iterator[dict[str, Any]]:
        trials = itertools.chain.from_iterable(iter_grid(space) for space in self.spaces)
        size = self.size
        if self.max_trials is None or size <= self.max_trials:
            yield from trials
            return
        import random

        picked = sorted(random.Random(self.seed).sample(range(size), self.max_trials))
        want = iter(picked)
        next_i = next(want)
        for i, trial in enumerate(trials):
            if i == next_i:
                yield trial
                next_i = next(want, -1)
                if next_i < 0:
                    return


@register
class RandomSearch(FixedOptimizer):
    """``max_trials`` (default 20) samples per space; space ``k`` seeds ``random.Random(seed + trials before it)``."""

    name = "random"

    @property
    def per_space(self) -> int:
        return self.max_trials or DEFAULT_RANDOM_TRIALS

    @property
    def total(self) -> int:
        return self.per_space * len(self.spaces)

    def _trials(self) -> Iterator[dict[str, Any]]:
        made = 0
        for space in self.spaces:
            for trial in iter_random_trials(space, self.per_space, self.seed + made):
                made += 1
                yield trial


# ----------------------------------------------------------- a sweep's trials


def ask_all(optimizer: Optimizer) -> list[dict[str, Any]]:
    """Every trial ``optimizer`` gives when nothing is told (grid and random search: all of them)."""
    trials: list[dict[str, Any]] = []
    while not optimizer.exhausted:
        got = optimizer.ask(_ASK_ALL_CHUNK)
        if not got:
            break
        trials.extend(got)
    return trials


def trial_values(flags: dict[str, Any], spec: SweepSpec) -> tuple[str, list[dict[str, Any]], int | None]:
    """(optimizer, raw trial flag values, seed used) for ``flags`` (which may hold lists/functions)."""
    import random

    if spec.max_trials is not None and spec.max_trials < 1:
        raise GuildError("invalid --max-trials %d: expected a positive number" % spec.max_trials)
    if spec.trial_rows is None and spec.batch_files:
        rows: list[dict[str, Any]] = []
        for path in spec.batch_files:
            rows.extend(read_batch_file(path))
        spec.trial_rows = rows
    bases: list[dict[str, Any]] = spec.trial_rows if spec.trial_rows is not None else [{}]
    name = resolve_name(spec.optimizer, flags)
    seed = spec.random_seed
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    spaces = []
    for base in bases:
        merged = dict(flags)
        merged.update(base)
        spaces.append(merged)
    optimizer = optimizer_class(name)(spaces, spec.max_trials, seed)
    return name, ask_all(optimizer), seed
