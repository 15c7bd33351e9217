"""Optimizers that learn: Guild's ``gp``, ``forest``, ``gbrt`` and Optuna's own samplers on the ask/tell seam.

Each is an :class:`~luigi_guild.sweeps.optimizers.Optimizer` over an
in-memory Optuna study: ``ask`` suggests flag values, ``tell`` reports the
objective (always minimized; the driver negates maximized columns). Guild's
names use :class:`~luigi_guild.sweeps.surrogate.SurrogateSampler`
(scikit-learn models, as scikit-optimize does for Guild); ``tpe`` and
``cmaes`` are Optuna's samplers. Optuna is imported when a study is made,
never by importing this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError
from luigi_guild.sweeps.optimizers import Optimizer, TrialResult, register
from luigi_guild.sweeps.trials import is_function

if TYPE_CHECKING:
    from luigi_guild.model.opdef import OpDef

DEFAULT_MAX_TRIALS = 20
DEFAULT_OPTIMIZER = "gp"
_FUNC_ARGS_HINT = "Use [MIN:MAX], uniform[MIN:MAX], loguniform[MIN:MAX] or a list of choices."


@dataclass(frozen=True)
class OptFlag:
    """One optimizer flag (``-Fo NAME=VAL``): its type, default and allowed values."""

    type: str
    default: Any
    choices: tuple = ()
    description: str = ""

    def coerce(self, name: str, val: Any) -> Any:
        if isinstance(val, str):
            val = flagslib.decode_untyped(val)
        try:
            if self.type == "int":
                if isinstance(val, bool) or not float(val).is_integer():
                    raise ValueError
                val = int(val)
            elif self.type == "float":
                if isinstance(val, bool):
                    raise ValueError
                val = float(val)
            elif self.type == "noise":
                if val != "gaussian":
                    if isinstance(val, bool):
                        raise ValueError
                    val = float(val)
                    if val < 0:
                        raise ValueError
            else:
                val = str(val)
        except (TypeError, ValueError):
            raise GuildError("invalid value %s for optimizer flag %s" % (flagslib.format_val(val), name)) from None
        if self.choices and val not in self.choices:
            raise GuildError("invalid value %s for optimizer flag %s" % (flagslib.format_val(val), name),
                             hint="Choose from: %s." % ", ".join(map(str, self.choices)))
        if self.type == "int" and val < 0:
            raise GuildError("invalid value %s for optimizer flag %s: expected 0 or more" % (val, name))
        return val


_RANDOM_STARTS = OptFlag("int", 3, description="Trials drawn at random before the model is used")
_KAPPA = OptFlag("float", 1.96, description="Exploration weight of LCB")
_XI = OptFlag("float", 0.05, description="Improvement EI and PI ask for")
_PREV = OptFlag("str", "batch", ("batch", "sourcecode", "operation"),
                description="Earlier trials to learn from: this batch's, every completed run with the same "
                            "source code, or every completed run of the operation")


def _space_distribution(name: str, val: Any) -> Any:
    """An Optuna distribution for a flag value that is a search dimension; None for a fixed value."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(val, list):
        if not val:
            raise GuildError("invalid flag %s: an empty list has no choices" % name)
        return CategoricalDistribution(val)
    if not is_function(val):
        return None
    from luigi_guild.sweeps.trials import parse_function

    func, low, high, init = parse_function(val)
    shown = "%s=%s" % (name, val)
    if func not in ("uniform", "loguniform"):
        raise GuildError("unknown function '%s' used for flag %s" % (func, name), hint=_FUNC_ARGS_HINT)
    if init is not None and (isinstance(init, bool) or not isinstance(init, (int, float))):
        raise GuildError("invalid function args in '%s': the initial value %s is not a number"
                         % (shown, flagslib.format_val(init)))
    if low >= high:
        raise GuildError("invalid function args in '%s': the lower bound %s has to be less than the upper bound %s"
                         % (shown, low, high))
    if func == "loguniform":
        if low <= 0:
            raise GuildError("invalid function args in '%s': loguniform bounds must be greater than 0" % shown)
        return FloatDistribution(float(low), float(high), log=True)
    if isinstance(low, int) and isinstance(high, int):
        return IntDistribution(low, high)
    return FloatDistribution(float(low), float(high))


def search_space(flags: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(dimensions, fixed values, initial values) of ``flags``; GuildError when there is no dimension."""
    from luigi_guild.sweeps.trials import parse_function

    dims: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    init: dict[str, Any] = {}
    for name in sorted(flags):
        val = flags[name]
        dist = _space_distribution(name, val)
        if dist is None:
            fixed[name] = val
            continue
        dims[name] = dist
        if is_function(val):
            first = parse_function(val)[3]
            if first is not None:
                init[name] = first
    if not dims:
        raise GuildError(
            "flags for batch (%s) do not contain any search dimensions" % flagslib.default_label(flags).replace(" ", ", "),
            hint="Try specifying a range for one or more flags as NAME=[MIN:MAX].",
        )
    return dims, fixed, init


class LearningOptimizer(Optimizer):
    """Base of the optimizers that learn: an Optuna study, random starts, then the sampler's model.

    ``notes`` holds, for each trial the last :meth:`ask` gave, the line the
    sweep logs before it (``Random start for optimization (1 of 3)``,
    ``Found 3 previous trial(s) for use in optimization``...).
    """

    learns: ClassVar[bool] = True
    aliases: ClassVar[tuple[str, ...]] = ()
    model: ClassVar[str] = "skopt"  # batch oprefs show ``<model>:<name>``
    FLAGS: ClassVar[dict[str, OptFlag]] = {"random-starts": _RANDOM_STARTS, "prev-trials": _PREV}

    def __init__(
        self,
        spaces: list[dict[str, Any]],
        max_trials: int | None,
        seed: int,
        opt_flags: dict[str, Any] | None = None,
        objective: str = "loss",
    ) -> None:
        super().__init__(spaces, max_trials or DEFAULT_MAX_TRIALS, seed)
        if len(self.spaces) != 1:
            raise GuildError("batch files cannot be used with optimizer %s" % self.name)
        self.opt_flags = self.check_flags(opt_flags or {})
        self.objective = objective
        self.dims, self.fixed, self.init = search_space(self.spaces[0])
        self.asked = 0
        self.notes: list[str] = []
        self._study: Any = None
        self._startup: Any = None  # the random sampler of the random starts
        self._pending: list[tuple[dict[str, Any], Any]] = []
        # Completed trials (earlier or of this sweep) that logged no objective, and earlier trials outside
        # the search space: counted in "Found N previous trial(s)", as Guild counts them, not learned from.
        self._missing_objective = 0
        self._outside = 0

    @classmethod
    def check_flags(cls, given: dict[str, Any]) -> dict[str, Any]:
        """Optimizer flag values: defaults overlaid with ``given``, each checked."""
        unknown = sorted(set(given) - set(cls.FLAGS))
        if unknown:
            raise GuildError("unsupported flag '%s' for optimizer %s" % (unknown[0], cls.name),
                             hint="Optimizer %s takes: %s." % (cls.name, ", ".join(sorted(cls.FLAGS))))
        return {name: flag.coerce(name, given[name]) if name in given else flag.default
                for name, flag in sorted(cls.FLAGS.items())}

    @property
    def total(self) -> int:
        assert self.max_trials is not None
        return self.max_trials

    @property
    def random_starts(self) -> int:
        return min(int(self.opt_flags["random-starts"]), self.total)

    @property
    def exhausted(self) -> bool:
        return self.asked >= self.total

    # ------------------------------------------------------------ the study

    def sampler(self) -> Any:
        raise NotImplementedError

    @property
    def study(self) -> Any:
        if self._study is None:
            import warnings

            import optuna

            optuna.logging.set_verbosity(optuna.logging.ERROR)
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            self._study = optuna.create_study(direction="minimize", sampler=self.sampler())
            if self.init:
                self._study.enqueue_trial(self.init, skip_if_exists=False)
        return self._study

    def _complete(self) -> int:
        from optuna.trial import TrialState

        return len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    def add_previous(self, previous: list[tuple[dict[str, Any], float | None]]) -> int:
        """Learn from earlier completed trials (flag values, objective to minimize or None when it was not
        logged); returns how many fit the space. Those without an objective are only counted."""
        import optuna

        added = 0
        for flags, loss in previous:
            if loss is None or not math.isfinite(loss):
                self._missing_objective += 1
                continue
            params = {name: flags.get(name) for name in self.dims}
            try:
                trial = optuna.trial.create_trial(params=params, distributions=self.dims, value=loss)
                self.study.add_trial(trial)
            except (ValueError, TypeError):
                self._outside += 1
                continue
            added += 1
        return added

    def _random_start(self) -> bool:
        """Guild's rule: the first ``random-starts`` trials of each run of the batch (a restart too) are drawn
        at random, and so is any trial before one has an objective to learn from."""
        return self.asked < self.random_starts or not self._complete()

    def _note(self) -> str:
        """The line logged before the next trial, in Guild's words; ``Found N`` counts the completed trials."""
        if self.asked < self.random_starts:
            return "Random start for optimization (%d of %d)" % (self.asked + 1, self.random_starts)
        done = self._complete()
        if done:
            return "Found %d previous trial(s) for use in optimization" % (done + self._missing_objective + self._outside)
        if self._missing_objective:
            return "Random start for optimization (cannot find objective '%s')" % self.objective
        return "Random start for optimization (missing previous trials)"

    def ask(self, n: int = 1) -> list[dict[str, Any]]:
        import optuna

        self.notes = []
        trials = []
        study = self.study
        for _ in range(max(0, min(n, self.total - self.asked))):
            self.notes.append(self._note())
            if self._random_start():
                if self._startup is None:
                    self._startup = optuna.samplers.RandomSampler(seed=self.seed)
                model, study.sampler = study.sampler, self._startup
                try:
                    trial = study.ask(self.dims)
                finally:
                    study.sampler = model
            else:
                trial = study.ask(self.dims)
            values = dict(self.fixed)
            values.update(trial.params)
            self._pending.append((values, trial))
            trials.append(values)
            self.asked += 1
        return trials

    def tell(self, flags: dict[str, Any], result: TrialResult) -> None:
        super().tell(flags, result)
        from optuna.trial import TrialState

        for i, (values, trial) in enumerate(self._pending):
            if values == flags:
                del self._pending[i]
                break
        else:
            raise ValueError("no pending trial has flags %r" % (flags,))
        if result.objective is not None and math.isfinite(result.objective):
            self.study.tell(trial, result.objective)
            return
        if result.status == "completed":
            self._missing_objective += 1
        self.study.tell(trial, state=TrialState.FAIL)


class _SurrogateOptimizer(LearningOptimizer):
    surrogate: ClassVar[str] = ""
    default_acq: ClassVar[str] = "EI"

    def sampler(self) -> Any:
        from luigi_guild.sweeps.surrogate import SurrogateSampler

        return SurrogateSampler(
            self.dims,
            model=self.surrogate,
            n_startup=1,  # the random starts are drawn before the model is asked (LearningOptimizer.ask)
            acq_func=str(self.opt_flags.get("acq-func", self.default_acq)),
            kappa=float(self.opt_flags["kappa"]),
            xi=float(self.opt_flags["xi"]),
            noise=self.opt_flags.get("noise", "gaussian"),
            seed=self.seed,
        )


@register
class GaussianProcess(_SurrogateOptimizer):
    """Bayesian optimization with a Gaussian process (Guild's ``gp``, ``bayesian``, ``gaussian``)."""

    name = "gp"
    aliases = ("bayesian", "gaussian")
    surrogate = "gp"
    default_acq = "gp_hedge"
    FLAGS = {
        "random-starts": _RANDOM_STARTS,
        "acq-func": OptFlag("str", "gp_hedge", ("LCB", "EI", "PI", "gp_hedge"),
                            description="Acquisition function"),
        "kappa": _KAPPA,
        "xi": _XI,
        "noise": OptFlag("noise", "gaussian", description="'gaussian' to learn the noise, or its variance"),
        "prev-trials": _PREV,
    }


@register
class Forest(_SurrogateOptimizer):
    """Sequential optimization with extra trees (Guild's ``forest``)."""

    name = "forest"
    surrogate = "forest"
    FLAGS = {"random-starts": _RANDOM_STARTS, "kappa": _KAPPA, "xi": _XI, "prev-trials": _PREV}


@register
class GradientBoostedTrees(_SurrogateOptimizer):
    """Sequential optimization with gradient-boosted median (quantile 0.5) trees (Guild's ``gbrt``)."""

    name = "gbrt"
    surrogate = "gbrt"
    FLAGS = {"random-starts": _RANDOM_STARTS, "kappa": _KAPPA, "xi": _XI, "prev-trials": _PREV}


@register
class TPE(LearningOptimizer):
    """Optuna's tree-structured Parzen estimator."""

    name = "tpe"
    model = "optuna"

    def sampler(self) -> Any:
        import optuna

        # No start-up draws of its own: the random starts come first (LearningOptimizer.ask), from a random
        # sampler with the same seed as TPE's own, which would repeat them.
        return optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=0, constant_liar=True)


@register
class CmaEs(LearningOptimizer):
    """Optuna's CMA-ES sampler (numeric flags; choices are drawn at random)."""

    name = "cmaes"
    model = "optuna"

    def sampler(self) -> Any:
        import optuna

        return optuna.samplers.CmaEsSampler(seed=self.seed, n_startup_trials=0,  # as for TPE
                                            warn_independent_sampling=False)


# ------------------------------------------------------------- choosing one


def learner_class(name: str) -> type[LearningOptimizer] | None:
    """The learning optimizer called ``name`` (or one of its aliases); None for grid, random and unknown names."""
    from luigi_guild.sweeps.optimizers import names, optimizer_class

    for known in names():
        cls = optimizer_class(known)
        if isinstance(cls, type) and issubclass(cls, LearningOptimizer) and (name == cls.name or name in cls.aliases):
            return cls
    return None


@dataclass
class OptimizerChoice:
    """The optimizer a sweep uses, with the optimizer flags guild.yml and ``-Fo`` give it."""

    name: str
    flags: dict[str, Any]


def _guildfile_optimizers(opdef: OpDef | None) -> dict[str, dict[str, Any]]:
    """guild.yml ``optimizers:``/``optimizer:`` as name -> {algorithm, default, flags...}."""
    raw = opdef.optimizers if opdef is not None else None
    if raw is None:
        return {}
    where = "optimizers for %s" % (opdef.name if opdef is not None else "?")
    if isinstance(raw, str):
        return {raw: {"algorithm": raw, "default": True}}
    if isinstance(raw, list):
        if not all(isinstance(n, str) for n in raw):
            raise GuildError("invalid %s in guild.yml: expected names" % where)
        return {n: {"algorithm": n} for n in raw}
    if not isinstance(raw, dict):
        raise GuildError("invalid %s in guild.yml: expected a name, a list or a mapping" % where)
    if "algorithm" in raw:  # ``optimizer: {algorithm: gp, kappa: 1.5}``
        return {str(raw["algorithm"]): dict(raw, default=True)}
    out: dict[str, dict[str, Any]] = {}
    for name, val in raw.items():
        if isinstance(val, str):
            out[str(name)] = {"algorithm": val}
        elif val is None:
            out[str(name)] = {"algorithm": str(name)}
        elif isinstance(val, dict):
            out[str(name)] = dict(val)
            out[str(name)].setdefault("algorithm", str(name))
        else:
            raise GuildError("invalid optimizer %s in guild.yml: expected an algorithm name or a mapping" % name)
    return out


def choose(opdef: OpDef | None, optimizer: str | None, optimize: bool, opt_flags: dict[str, str]) -> OptimizerChoice | None:
    """The optimizer ``-o NAME`` / ``-O`` / guild.yml name, with its flags; None for grid/random defaults.

    ``-o NAME`` first looks NAME up among the operation's ``optimizers``,
    then as an optimizer name; ``-O`` uses the operation's default optimizer,
    or ``gp`` when it defines none.
    """
    if optimize and optimizer:
        raise GuildError("--optimize and --optimizer cannot both be used")
    defined = _guildfile_optimizers(opdef)
    entry: dict[str, Any] | None = None
    if optimize:
        if defined:
            defaults = [n for n, e in defined.items() if e.get("default")] if len(defined) > 1 else list(defined)
            if len(defaults) != 1:
                raise GuildError("no default optimizer defined for %s" % (opdef.name if opdef else "this operation"),
                                 hint="Specify one of the following with '--optimizer': %s" % ", ".join(sorted(defined)))
            entry = defined[defaults[0]]
        else:
            entry = {"algorithm": DEFAULT_OPTIMIZER}
    elif optimizer and optimizer in defined:
        entry = defined[optimizer]
    elif optimizer:
        entry = {"algorithm": optimizer}
    if entry is None:
        if opt_flags:
            name, val = next(iter(sorted(opt_flags.items())))
            raise GuildError("invalid optimizer flag %s=%s: no optimizer specified" % (name, val))
        return None
    algorithm = str(entry.get("algorithm"))
    cls = learner_class(algorithm)
    if cls is None:
        from luigi_guild.sweeps.optimizers import optimizer_class

        optimizer_class(algorithm)  # an unknown name fails here, naming the known ones
        if opt_flags:
            name, val = next(iter(sorted(opt_flags.items())))
            raise GuildError("invalid optimizer flag %s=%s: optimizer %s takes no flags" % (name, val, algorithm))
        return OptimizerChoice(algorithm, {})
    given = {k: v for k, v in entry.items() if k not in ("algorithm", "default")}
    given.update(opt_flags)
    return OptimizerChoice(cls.name, cls.check_flags(given))


def encode_flagdefs(opdef: OpDef | None, flags: dict[str, Any], user_flags: dict[str, Any]) -> dict[str, Any]:
    """Guild's flag encoding for optimizers: unset flags with ``choices`` become lists, with ``min``/``max`` ranges.

    A flag the user set keeps its value; a range starts at the flag's value
    (``uniform[MIN:MAX:VALUE]``).
    """
    if opdef is None:
        return dict(flags)
    out = dict(flags)
    for name, fd in opdef.flags.items():
        if name in user_flags or name not in flags:
            continue
        val = flags[name]
        if fd.choices:
            out[name] = list(fd.choices)
        elif fd.min is not None and fd.max is not None:
            dist = fd.extra.get("distribution") if isinstance(fd.extra, dict) else None
            func = dist if dist in ("uniform", "loguniform") else ""
            init = "" if val is None else ":%s" % flagslib.format_val(val)
            out[name] = "%s[%s:%s%s]" % (func, flagslib.format_val(fd.min), flagslib.format_val(fd.max), init)
    return out
