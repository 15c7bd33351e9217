"""Surrogate-model samplers for Optuna: Guild's ``gp``, ``forest`` and ``gbrt`` optimizers on scikit-learn.

A :class:`SurrogateSampler` fits a regression model (a Gaussian process,
extra trees, or gradient-boosted quantile trees) to the finished trials and
proposes the point that maximizes an acquisition function (``LCB``, ``EI``,
``PI``, or ``gp_hedge``, which picks among the three by their past gains) -
the method of scikit-optimize's ``gp_minimize``/``forest_minimize``/
``gbrt_minimize``, which Guild's optimizers use. ``gbrt`` differs: a tree
model's prediction never goes below the best value seen, so an acquisition
over it only rewards spread; it proposes the point its median model
predicts lowest, and among points it predicts alike (a tree is flat over a
box) the one farthest from the trials so far. Until ``n_startup`` trials
have an objective, points are drawn at random. Trials still running count
at the best value seen ("constant liar"), so trials asked for together
differ.

Importing this module imports Optuna, NumPy and SciPy; scikit-learn is
imported when a model is first fitted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

MODELS = ("gp", "forest", "gbrt")
ACQ_FUNCS = ("LCB", "EI", "PI", "gp_hedge")
_N_RANDOM_CANDIDATES = 10000
_LOCAL_SCALES = (0.1, 0.03, 0.01)
_N_LOCAL = 200


class _Encoder:
    """Flag values <-> points of the unit cube (categorical values one-hot)."""

    def __init__(self, space: dict[str, BaseDistribution]):
        self.space = space
        self.names = sorted(space)
        self.slices: dict[str, slice] = {}
        width = 0
        for name in self.names:
            dist = space[name]
            n = len(dist.choices) if isinstance(dist, CategoricalDistribution) else 1
            self.slices[name] = slice(width, width + n)
            width += n
        self.width = width

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        x = np.zeros(self.width)
        for name in self.names:
            dist, val, sl = self.space[name], params[name], self.slices[name]
            if isinstance(dist, CategoricalDistribution):
                x[sl.start + dist.choices.index(val)] = 1.0
            else:
                assert isinstance(dist, (FloatDistribution, IntDistribution))
                x[sl.start] = _to_unit(float(val), float(dist.low), float(dist.high), dist.log)
        return x

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name in self.names:
            dist, sl = self.space[name], self.slices[name]
            if isinstance(dist, CategoricalDistribution):
                params[name] = dist.choices[int(np.argmax(x[sl]))]
                continue
            assert isinstance(dist, (FloatDistribution, IntDistribution))
            val = _from_unit(float(np.clip(x[sl.start], 0.0, 1.0)), float(dist.low), float(dist.high), dist.log)
            if isinstance(dist, IntDistribution):
                params[name] = int(min(max(round(val), dist.low), dist.high))
            else:
                params[name] = float(min(max(val, dist.low), dist.high))
        return params

    def random(self, rng: np.random.RandomState, n: int) -> np.ndarray:
        pts = rng.uniform(size=(n, self.width))
        for name in self.names:
            dist, sl = self.space[name], self.slices[name]
            if isinstance(dist, CategoricalDistribution):
                pts[:, sl] = np.eye(len(dist.choices))[rng.randint(len(dist.choices), size=n)]
        return pts

    def around(self, rng: np.random.RandomState, center: np.ndarray, scale: float, n: int) -> np.ndarray:
        pts = np.tile(center, (n, 1))
        for name in self.names:
            if not isinstance(self.space[name], CategoricalDistribution):
                col = self.slices[name].start
                pts[:, col] = np.clip(pts[:, col] + rng.normal(0.0, scale, size=n), 0.0, 1.0)
        return pts


def _to_unit(v: float, low: float, high: float, log: bool) -> float:
    if log:
        v, low, high = math.log(v), math.log(low), math.log(high)
    return 0.0 if high == low else (v - low) / (high - low)


def _from_unit(t: float, low: float, high: float, log: bool) -> float:
    if log:
        return math.exp(math.log(low) + t * (math.log(high) - math.log(low)))
    return low + t * (high - low)


class SurrogateSampler(optuna.samplers.BaseSampler):
    """An Optuna sampler that models the objective with ``model`` (``gp``, ``forest`` or ``gbrt``)."""

    def __init__(
        self,
        space: dict[str, BaseDistribution],
        model: str = "gp",
        n_startup: int = 3,
        acq_func: str = "gp_hedge",
        kappa: float = 1.96,
        xi: float = 0.05,
        noise: str | float = "gaussian",
        seed: int = 0,
    ):
        if model not in MODELS:
            raise ValueError("unknown model %r" % model)
        if acq_func not in ACQ_FUNCS:
            raise ValueError("unknown acquisition function %r" % acq_func)
        self.space = dict(space)
        self.model = model
        self.n_startup = n_startup
        self.acq_func = acq_func
        self.kappa = kappa
        self.xi = xi
        self.noise = noise
        self._rng = np.random.RandomState(seed)
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._encoder = _Encoder(self.space)
        self._gains = np.zeros(3)

    # ------------------------------------------------------ Optuna's sampler API

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.space)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if self._usable(t)]
        if len(done) < self.n_startup:
            return {}
        running = [
            t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.number != trial.number and self._usable(t, need_value=False)
        ]
        X = np.array([self._encoder.encode(t.params) for t in done])
        y = np.array([float(t.value) for t in done])  # type: ignore[arg-type]
        if running:  # constant liar: pending points count at the best value seen
            X = np.vstack([X] + [self._encoder.encode(t.params) for t in running])
            y = np.concatenate([y, np.full(len(running), y.min())])
        return self._encoder.decode(self._propose(X, y))

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def reseed_rng(self) -> None:  # pragma: no cover - Optuna calls this for parallel studies
        self._random.reseed_rng()

    # ------------------------------------------------------------------ model

    def _usable(self, t: FrozenTrial, need_value: bool = True) -> bool:
        if need_value and (t.value is None or not math.isfinite(t.value)):
            return False
        return all(name in t.params for name in self.space)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> Any:
        seed = int(self._rng.randint(0, 2**31 - 1))
        if self.model == "gp":
            from sklearn.gaussian_process import GaussianProcessRegressor
            from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

            kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
                length_scale=np.ones(X.shape[1]), length_scale_bounds=(1e-2, 1e2), nu=2.5
            )
            alpha = 1e-10
            if self.noise == "gaussian":
                kernel = kernel + WhiteKernel(1e-3, (1e-8, 1.0))
            else:
                alpha = max(float(self.noise), 1e-10)
            model = GaussianProcessRegressor(
                kernel=kernel, alpha=alpha, normalize_y=True, n_restarts_optimizer=2, random_state=seed
            )
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence warnings on tiny data say nothing to the user
                model.fit(X, y)
            return model
        if self.model == "forest":
            from sklearn.ensemble import ExtraTreesRegressor

            return ExtraTreesRegressor(n_estimators=100, min_samples_leaf=1, random_state=seed).fit(X, y)
        from sklearn.ensemble import GradientBoostingRegressor

        # Two trials at least per leaf: a leaf fitted to one trial stretches that value over its whole box.
        return GradientBoostingRegressor(
            loss="quantile", alpha=0.5, n_estimators=30, min_samples_leaf=2, random_state=seed
        ).fit(X, y)

    def _predict(self, model: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.model == "gp":
            mu, std = model.predict(X, return_std=True)
            return mu, np.maximum(std, 1e-9)
        if self.model == "forest":
            # Law of total variance over the trees, each leaf's own variance included.
            means = np.array([tree.predict(X) for tree in model.estimators_])
            leaf_vars = np.array([tree.tree_.impurity[tree.apply(X)] for tree in model.estimators_])
            mu = means.mean(axis=0)
            var = (leaf_vars + means**2).mean(axis=0) - mu**2
            return mu, np.sqrt(np.maximum(var, 1e-18))
        return model.predict(X), np.zeros(len(X))

    def _acquisition(self, name: str, mu: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
        """Higher is better."""
        if name == "LCB":
            return -(mu - self.kappa * std)
        from scipy.stats import norm

        improve = best - self.xi - mu
        z = improve / std
        if name == "PI":
            return np.asarray(norm.cdf(z))
        return np.asarray(improve * norm.cdf(z) + std * norm.pdf(z))

    def _candidates(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        parts = [self._encoder.random(self._rng, _N_RANDOM_CANDIDATES)]
        for i in np.argsort(y)[:3]:
            for scale in _LOCAL_SCALES:
                parts.append(self._encoder.around(self._rng, X[i], scale, _N_LOCAL))
        return np.vstack(parts)

    def _propose(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.model in ("forest", "gbrt"):
            # Trees split on the objective's scale: compressing it (monotonically) lets the
            # good region, not a few huge values, shape the forest.
            y = np.log1p(y - y.min())
        model = self._fit(X, y)
        cands = self._candidates(X, y)
        mu, std = self._predict(model, cands)
        best = float(y.min())
        if self.model == "gbrt":
            return self._lowest_farthest(cands, mu, X)
        if self.acq_func != "gp_hedge":
            return cands[int(np.argmax(self._acquisition(self.acq_func, mu, std, best)))]
        picks = [int(np.argmax(self._acquisition(name, mu, std, best))) for name in ("LCB", "EI", "PI")]
        logits = self._gains - self._gains.max()
        probs = np.exp(logits) / np.exp(logits).sum()
        chosen = picks[int(np.argmax(self._rng.multinomial(1, probs)))]
        spread = float(np.std(y)) or 1.0
        self._gains -= mu[picks] / spread  # each function gains by how low its pick is predicted to be
        return cands[chosen]

    @staticmethod
    def _lowest_farthest(cands: np.ndarray, mu: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The candidate predicted lowest; of those predicted alike, the one farthest from the trials ``X``."""
        low = float(mu.min())
        tied = np.flatnonzero(mu <= low + 1e-9 * max(1.0, abs(low)))
        gaps = ((cands[tied][:, None, :] - X[None, :, :]) ** 2).sum(axis=2).min(axis=1)
        return cands[tied[int(np.argmax(gaps))]]
