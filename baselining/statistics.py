"""Human-time statistics: geometric means of successful baselines and a censoring-aware log-normal fit.

Times are log-normal to a good approximation, so the centre is the geometric mean and intervals are built
on the log scale. Successes are observed times; failures, give-ups and time-limit stops only say the task
took longer than the time spent (right-censored), which the success-only geometric mean ignores and which
biases long tasks downwards. The maximum-likelihood fit below uses both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True)
class GeometricSummary:
    n: int
    gmean: float  # minutes
    gsd: float  # multiplicative standard deviation (1.0 for a single time)
    ci_low: float
    ci_high: float


def geometric_summary(minutes: list[float], level: float = 0.95) -> GeometricSummary | None:
    """Geometric mean, geometric SD and a t-interval for the geometric mean (on the log scale)."""
    x = np.asarray([m for m in minutes if m > 0], dtype=float)
    if x.size == 0:
        return None
    logs = np.log(x)
    mean = float(logs.mean())
    if x.size == 1:
        return GeometricSummary(1, math.exp(mean), 1.0, math.nan, math.nan)
    sd = float(logs.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, df=x.size - 1)) * sd / math.sqrt(x.size)
    return GeometricSummary(
        int(x.size), math.exp(mean), math.exp(sd), math.exp(mean - half), math.exp(mean + half)
    )


@dataclass(frozen=True)
class CensoredFit:
    n_observed: int
    n_censored: int
    median: float  # minutes: exp(mu), the log-normal's median (= its geometric mean)
    sigma: float
    ci_low: float
    ci_high: float
    converged: bool


def _negloglik(params: np.ndarray, obs: np.ndarray, cens: np.ndarray) -> float:
    mu, log_sigma = params
    sigma = math.exp(log_sigma)
    ll = float(np.sum(stats.norm.logpdf(obs, mu, sigma) - obs))  # log-normal density in log space: -log x
    if cens.size:
        ll += float(np.sum(stats.norm.logsf(cens, mu, sigma)))
    return -ll


def censored_lognormal(
    observed: list[float], censored: list[float], level: float = 0.95
) -> CensoredFit | None:
    """Maximum-likelihood log-normal fit with right-censored times; a Wald interval for the median.

    Needs at least one observed time (with none, every time is only a lower bound and the median is not
    identified: None).
    """
    obs = np.log(np.asarray([t for t in observed if t > 0], dtype=float))
    cens = np.log(np.asarray([t for t in censored if t > 0], dtype=float))
    if obs.size == 0:
        return None
    start_sigma = float(obs.std(ddof=1)) if obs.size > 1 else 1.0
    start = np.array([float(np.mean(np.concatenate([obs, cens]))), math.log(max(start_sigma, 0.1))])
    res = optimize.minimize(_negloglik, start, args=(obs, cens), method="BFGS")
    mu, log_sigma = (float(v) for v in res.x)
    # Standard error of mu from the observed information (numerical Hessian of the negative log-likelihood).
    hess = _hessian(lambda p: _negloglik(p, obs, cens), np.array([mu, log_sigma]))
    try:
        cov = np.linalg.inv(hess)
        se = math.sqrt(max(float(cov[0, 0]), 0.0))
    except np.linalg.LinAlgError:
        se = math.nan
    z = float(stats.norm.ppf(0.5 + level / 2))
    return CensoredFit(
        n_observed=int(obs.size),
        n_censored=int(cens.size),
        median=math.exp(mu),
        sigma=math.exp(log_sigma),
        ci_low=math.exp(mu - z * se),
        ci_high=math.exp(mu + z * se),
        converged=bool(res.success),
    )


def _hessian(f: object, x: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    fn = f  # a callable of a parameter vector
    n = x.size
    h = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            ei, ej = np.eye(n)[i] * eps, np.eye(n)[j] * eps
            h[i, j] = (
                fn(x + ei + ej) - fn(x + ei - ej) - fn(x - ei + ej) + fn(x - ei - ej)  # type: ignore[operator]
            ) / (4 * eps * eps)
    return h
