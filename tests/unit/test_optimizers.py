"""Optimizers: the registry, the ask/tell protocol, and grid/random search giving the trials they always gave."""

from __future__ import annotations

import random
from typing import Any

import pytest

from luigi_guild.model.errors import GuildError
from luigi_guild.sweeps import learners  # registers the optimizers that learn (before any registry copy)
from luigi_guild.sweeps import optimizers
from luigi_guild.sweeps import trials as triallib
from luigi_guild.sweeps.optimizers import GridSearch, Optimizer, RandomSearch, TrialResult
from luigi_guild.sweeps.trials import SweepSpec

GRID = {"b": [1, 2], "a": ["x", "y"], "c": 0}
RANDOM = {"x": "[1:100]", "y": "loguniform[0.001:1]", "z": ["a", "b", "c"], "k": 5}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, type[Optimizer]]:
    """A copy of the registry, so that test optimizers do not outlive their test."""
    copy = dict(optimizers._registry)
    monkeypatch.setattr(optimizers, "_registry", copy)
    return copy


# ---------------------------------------------------------------- registry


def test_registry_lookup() -> None:
    assert optimizers.names() == ["grid", "random", "gp", "forest", "gbrt", "tpe", "cmaes"]
    assert learners.learner_class("bayesian") is learners.GaussianProcess
    assert optimizers.optimizer_class("grid") is GridSearch
    assert optimizers.optimizer_class("random") is RandomSearch
    assert GridSearch.name == "grid" and RandomSearch.name == "random"


def test_unknown_name_error_text() -> None:
    known = "Supported optimizers: grid, random, gp, forest, gbrt, tpe, cmaes."
    with pytest.raises(GuildError) as e:
        optimizers.optimizer_class("nelder-mead")
    assert str(e.value) == "unsupported optimizer 'nelder-mead'"
    assert e.value.hint == known
    with pytest.raises(GuildError) as e:
        optimizers.trial_values({"x": [1, 2]}, SweepSpec("hill-climb"))
    assert (str(e.value), e.value.hint) == ("unsupported optimizer 'hill-climb'", known)


def test_resolve_name_defaults() -> None:
    assert optimizers.resolve_name(None, {"x": [1, 2]}) == "grid"
    assert optimizers.resolve_name("+", {"x": 1}) == "grid"
    assert optimizers.resolve_name(None, {"x": "[1:2]"}) == "random"
    assert optimizers.resolve_name("+", {"x": "loguniform[1:2]"}) == "random"
    assert optimizers.resolve_name("random", {"x": [1, 2]}) == "random"
    with pytest.raises(GuildError, match=r"^grid search cannot sample flag functions; use --optimizer random$"):
        optimizers.resolve_name("grid", {"x": "[1:2]"})


def test_register_adds_a_name(registry: dict[str, type[Optimizer]]) -> None:
    @optimizers.register
    class Constant(Optimizer):
        name = "constant"

        def ask(self, n: int = 1) -> list[dict[str, Any]]:
            return [dict(self.spaces[0]) for _ in range(n)]

        @property
        def exhausted(self) -> bool:
            return False

    assert optimizers.names() == ["grid", "random", "gp", "forest", "gbrt", "tpe", "cmaes", "constant"]
    assert optimizers.optimizer_class("constant") is Constant
    assert optimizers.register(Constant) is Constant  # registering again is harmless
    with pytest.raises(GuildError) as e:
        optimizers.optimizer_class("nelder-mead")
    assert e.value.hint == "Supported optimizers: grid, random, gp, forest, gbrt, tpe, cmaes, constant."

    class Impostor(Constant):
        name = "grid"

    with pytest.raises(ValueError, match="already registered"):
        optimizers.register(Impostor)

    class Nameless(Optimizer):
        pass

    with pytest.raises(ValueError, match="has no name"):
        optimizers.register(Nameless)
    assert optimizers.names() == ["grid", "random", "gp", "forest", "gbrt", "tpe", "cmaes", "constant"]


# -------------------------------------------------------------------- grid


def test_grid_order() -> None:
    expected = [
        {"a": "x", "b": 1, "c": 0},
        {"a": "x", "b": 2, "c": 0},
        {"a": "y", "b": 1, "c": 0},
        {"a": "y", "b": 2, "c": 0},
    ]
    assert GridSearch([GRID], None, 0).ask(10) == expected
    assert triallib.grid(GRID) == expected
    # spaces (batch file rows) follow each other, each in grid order
    two = GridSearch([GRID, {"a": "z", "b": [3, 4]}], None, 0)
    assert two.total == 6
    assert optimizers.ask_all(two) == expected + [{"a": "z", "b": 3}, {"a": "z", "b": 4}]


def test_grid_max_trials_picks_in_grid_order_with_the_seed() -> None:
    space = {"x": list(range(10)), "y": list(range(7)), "z": [None, True, "s"]}
    full = triallib.grid(space)
    for seed in (0, 1, 42):
        picked = GridSearch([space], 17, seed).ask(100)
        # what trial_values always did: sample indices with random.Random(seed), keep grid order
        assert picked == [full[i] for i in sorted(random.Random(seed).sample(range(len(full)), 17))]
        assert picked == GridSearch([space], 17, seed).ask(100)
    assert GridSearch([space], 17, 0).ask(100) != GridSearch([space], 17, 1).ask(100)
    assert GridSearch([space], 1000, 0).ask(1000) == full  # max_trials above the grid: the whole grid


def test_grid_keeps_flag_functions_as_values() -> None:
    # (only batch file rows can bring a function to a grid; plan_trials rejects it later)
    assert GridSearch([{"x": "[1:2]", "y": [1, 2]}], None, 0).ask(5) == [{"x": "[1:2]", "y": 1}, {"x": "[1:2]", "y": 2}]


# ------------------------------------------------------------------ random


def test_random_reproducible_with_a_seed() -> None:
    a = RandomSearch([RANDOM], 30, 7).ask(30)
    assert a == RandomSearch([RANDOM], 30, 7).ask(30)
    assert a == triallib.random_trials(RANDOM, 30, 7)
    assert a != RandomSearch([RANDOM], 30, 8).ask(30)
    assert all(1 <= t["x"] <= 100 and 0.001 <= t["y"] <= 1 and t["z"] in "abc" and t["k"] == 5 for t in a)
    assert all(isinstance(t["x"], int) for t in a)
    assert RandomSearch([RANDOM], None, 7).total == optimizers.DEFAULT_RANDOM_TRIALS == 20


def test_random_seeds_each_space_after_the_trials_before_it() -> None:
    s1, s2, s3 = {"x": "[0:1]"}, {"x": "[5:9]", "y": 1}, {"x": [1, 2, 3]}
    got = RandomSearch([s1, s2, s3], 4, 100).ask(12)
    assert got == (
        triallib.random_trials(s1, 4, 100) + triallib.random_trials(s2, 4, 104) + triallib.random_trials(s3, 4, 108)
    )


def test_random_matches_the_documented_sweep() -> None:
    # tests/docs/sweeps-grid-random.md: `x=[1:9] y=loguniform[0.01:1] -o random -m 3 --random-seed 1`
    flags = {"sleep": 0.0, "x": "[1:9]", "y": "loguniform[0.01:1]", "z": "a"}
    name, trials, seed = optimizers.trial_values(flags, SweepSpec("random", 3, 1))
    assert (name, seed) == ("random", 1)
    assert [(t["x"], round(t["y"], 5)) for t in trials] == [(3, 0.13753), (2, 0.03237), (8, 0.3326)]


def test_random_samples_when_asked() -> None:
    bad = RandomSearch([{"x": "normal[0:1]"}], 1, 0)  # nothing sampled yet
    with pytest.raises(GuildError, match="unsupported flag function 'normal'"):
        bad.ask()


# ---------------------------------------------------------- ask/tell, exhaustion


def test_ask_tell_protocol() -> None:
    told = GridSearch([GRID], None, 0)
    quiet = GridSearch([GRID], None, 0)
    first = told.ask(2)
    assert first == quiet.ask(2) and told.asked == 2
    assert told.ask(0) == []
    for values, objective in zip(first, (0.5, 0.25)):
        told.tell(values, TrialResult("completed", objective))
    told.tell(first[0], TrialResult("error"))
    assert told.results == [
        (first[0], TrialResult("completed", 0.5)),
        (first[1], TrialResult("completed", 0.25)),
        (first[0], TrialResult("error", None)),
    ]
    assert told.ask(5) == quiet.ask(5)  # grid and random search do not learn
    with pytest.raises(ValueError):
        told.ask(-1)


def test_exhaustion() -> None:
    for opt in (GridSearch([GRID], None, 0), RandomSearch([RANDOM], 3, 0), GridSearch([GRID], 3, 5)):
        assert not opt.exhausted
        got = opt.ask(2)
        assert len(got) == 2 and not opt.exhausted
        rest = opt.ask(10)  # fewer than asked for: the rest
        assert len(got) + len(rest) == getattr(opt, "total") and opt.exhausted
        assert opt.ask(10) == [] and opt.exhausted
    assert GridSearch([], None, 0).exhausted  # an empty batch file
    assert GridSearch([{"x": [], "y": 1}], None, 0).exhausted  # an empty list value
    assert RandomSearch([], None, 0).ask(5) == []
    with pytest.raises(ValueError, match="max_trials"):
        GridSearch([GRID], 0, 0)


def test_a_learning_optimizer_plugs_in(registry: dict[str, type[Optimizer]]) -> None:
    @optimizers.register
    class Halving(Optimizer):
        """Learns: each trial halves the best objective told so far; done after 3 results or a failure."""

        name = "halving"

        def ask(self, n: int = 1) -> list[dict[str, Any]]:
            if self.exhausted:
                return []
            best = min((r.objective for _f, r in self.results if r.objective is not None), default=1.0)
            return [dict(self.spaces[0], lr=best / 2)][:n]

        @property
        def exhausted(self) -> bool:
            return len(self.results) >= 3 or any(r.status == "error" for _f, r in self.results)

    opt = optimizers.optimizer_class("halving")([{"x": 1}], None, 0)
    while not opt.exhausted:
        (values,) = opt.ask(1)
        opt.tell(values, TrialResult("completed", values["lr"]))
    assert [f for f, _r in opt.results] == [{"x": 1, "lr": 0.5}, {"x": 1, "lr": 0.25}, {"x": 1, "lr": 0.125}]
    assert opt.ask(1) == []
    assert optimizers.resolve_name("halving", {"x": 1}) == "halving"


def test_ask_all_stops_when_an_optimizer_runs_dry(registry: dict[str, type[Optimizer]]) -> None:
    @optimizers.register
    class Twice(Optimizer):
        """Gives two trials, then nothing, but never says it is exhausted."""

        name = "twice"

        def ask(self, n: int = 1) -> list[dict[str, Any]]:
            given = len(self.results)
            self.results.append(({}, TrialResult("pending")))
            return [dict(self.spaces[0], i=given)] if given < 2 else []

        @property
        def exhausted(self) -> bool:
            return False

    name, trials, seed = optimizers.trial_values({"x": 1}, SweepSpec("twice", None, 3))
    assert (name, trials, seed) == ("twice", [{"x": 1, "i": 0}, {"x": 1, "i": 1}], 3)


def _best_loss(opt: Optimizer) -> float:
    best = float("inf")
    while not opt.exhausted:
        for values in opt.ask(1):
            loss = (values["x"] - 2) ** 2 + (values["y"] + 1) ** 2
            best = min(best, loss)
            opt.tell(values, TrialResult("completed", loss))
    return best


def test_gbrt_learns_at_several_seeds() -> None:
    """gbrt narrows in on the bowl's bottom at seeds 1-3 (0.02, 0.001, 0.37), beating random search at each."""
    space = [{"x": "[-5.0:5.0]", "y": "[-5.0:5.0]"}]
    gbrt = [_best_loss(learners.GradientBoostedTrees(space, 20, seed)) for seed in (1, 2, 3)]
    rand = [_best_loss(RandomSearch(space, 20, seed)) for seed in (1, 2, 3)]
    assert all(g < r for g, r in zip(gbrt, rand)), (gbrt, rand)
    assert sorted(gbrt)[1] <= 0.1 and max(gbrt) < 1.0, gbrt
