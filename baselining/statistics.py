"""Human-time statistics: geometric means of successful baselines and a censoring-aware log-normal fit.

Times are log-normal to a good approximation, so the centre is the geometric mean and intervals are built
on the log scale. Successes are observed times; failures, give-ups and time-limit stops only say the task
took longer than the time spent (right-censored), which the success-only geometric mean ignores and which
biases long tasks downwards. The maximum-likelihood fit below uses both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class GeometricSummary:
    n: int
    gmean: float  # minutes
    gsd: float  # multiplicative standard deviation (1.0 for a single time)
    ci_low: float
    ci_high: float


def geometric_summary(minutes: list[float], level: float = 0.95) -> GeometricSummary | None:
    """Geometric mean, geometric SD and a t-interval for the geometric mean (on the log scale): one group
    of the per-task computation below."""
    x = np.asarray([m for m in minutes if m > 0], dtype=float)
    if x.size == 0:
        return None
    row = _log_summary(pd.Series(np.log(x), index=np.zeros(x.size, dtype=int)), level).iloc[0]
    return GeometricSummary(int(row["n"]), *(float(row[c]) for c in ("gmean", "gsd", "ci_low", "ci_high")))


@dataclass(frozen=True)
class CensoredFit:
    n_observed: int
    n_censored: int
    median: float  # minutes: exp(mu), the log-normal's median (= its geometric mean)
    sigma: float
    ci_low: float
    ci_high: float
    converged: bool


def censored_lognormal(
    observed: list[float], censored: list[float], level: float = 0.95
) -> CensoredFit | None:
    """Maximum-likelihood log-normal fit with right-censored times; a small-sample interval for the median
    (see censored_lognormal_many).

    None when the maximum does not exist: no observed time (every time is only a lower bound), or one
    observed time and no censored time above it (the likelihood grows without bound as sigma shrinks).
    """
    obs = [t for t in observed if t > 0]
    cens = [t for t in censored if t > 0]
    if not obs:
        return None
    times = np.log(np.asarray(obs + cens, dtype=float))
    is_cens = np.arange(times.size) >= len(obs)
    fit = censored_lognormal_many(np.zeros(times.size, dtype=np.intp), times, is_cens, 1, level)
    if not fit["ok"][0]:
        return None
    return CensoredFit(
        n_observed=len(obs),
        n_censored=len(cens),
        median=float(np.exp(fit["mu"][0])),
        sigma=float(fit["sigma"][0]),
        ci_low=float(fit["ci_low"][0]),
        ci_high=float(fit["ci_high"][0]),
        converged=bool(fit["converged"][0]),
    )


def _loglik_parts(
    group: np.ndarray, y: np.ndarray, cens: np.ndarray, mu: np.ndarray, tau: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group: log-likelihood (in log time, constants dropped), gradient and Hessian in (mu, log sigma).

    Observed log time y: -tau - z^2/2, z = (y - mu)/sigma. Censored at y: log of the normal survival
    function at z, whose derivatives use the inverse Mills ratio h = pdf(z)/sf(z), dh/dz = h(h - z).
    """
    sigma = np.exp(tau)[group]
    z = (y - mu[group]) / sigma
    logsf = stats.norm.logsf(z)
    h = np.exp(stats.norm.logpdf(z) - logsf)
    hz = h * (h - z)
    ll = np.where(cens, logsf, -tau[group] - z * z / 2)
    g_mu = np.where(cens, h / sigma, z / sigma)
    g_tau = np.where(cens, h * z, z * z - 1)
    h_mm = np.where(cens, -hz / sigma**2, -1 / sigma**2)
    h_mt = np.where(cens, (-z * hz - h) / sigma, -2 * z / sigma)
    h_tt = np.where(cens, -z * z * hz - h * z, -2 * z * z)

    def total(v: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=v, minlength=n)

    grad = np.stack([total(g_mu), total(g_tau)])
    hess = np.stack([total(h_mm), total(h_mt), total(h_tt)])
    return total(ll), grad, hess


def censored_lognormal_many(
    group: np.ndarray, log_times: np.ndarray, censored: np.ndarray, n_groups: int, level: float = 0.95
) -> dict[str, np.ndarray]:
    """The censored log-normal fit for many groups (tasks) at once: Newton steps on all of them together.

    `group` numbers each time's group (0..n_groups-1); `log_times` are log minutes; `censored` marks the
    right-censored ones. Returns arrays per group: mu, sigma, se (of mu), ci_low / ci_high (of the median,
    minutes), converged, ok (a maximum exists and was found), n_observed, n_censored.
    """
    group = np.asarray(group, dtype=np.intp)
    y = np.asarray(log_times, dtype=float)
    cens = np.asarray(censored, dtype=bool)
    n = n_groups
    n_obs = np.bincount(group, weights=~cens, minlength=n)
    n_cens = np.bincount(group, weights=cens, minlength=n)
    safe_obs = np.maximum(n_obs, 1)
    mean_obs = np.bincount(group, weights=np.where(cens, 0.0, y), minlength=n) / safe_obs
    var_obs = np.bincount(group, weights=np.where(cens, 0.0, (y - mean_obs[group]) ** 2), minlength=n)
    mu = mean_obs.copy()
    tau = np.log(np.maximum(np.sqrt(var_obs / safe_obs), 0.1))
    converged = np.zeros(n, dtype=bool)
    ll, grad, hess = _loglik_parts(group, y, cens, mu, tau, n)
    for _ in range(200):
        a, b, d = hess
        det = a * d - b * b
        newton = (a < 0) & (det > 0)
        safe_det = np.where(newton, det, 1.0)
        # Newton step for a maximum: -H^-1 g; where H is not negative definite, a damped gradient step
        step_mu = np.where(newton, -(d * grad[0] - b * grad[1]) / safe_det, grad[0] / (np.abs(a) + 1))
        step_tau = np.where(newton, -(-b * grad[0] + a * grad[1]) / safe_det, grad[1] / (np.abs(d) + 1))
        step_tau = np.clip(step_tau, -1.0, 1.0)
        size = np.ones(n)
        todo = ~converged
        # Only the times of the groups still moving: a converged group keeps its mu and tau, so its sums
        # would come out the same (a few degenerate groups otherwise keep all the times in every step).
        rows = todo[group]
        if rows.all():
            g_todo, y_todo, cens_todo = group, y, cens
        else:
            g_todo, y_todo, cens_todo = group[rows], y[rows], cens[rows]
        for _halving in range(40):
            new_mu = np.where(todo, mu + size * step_mu, mu)
            new_tau = np.where(todo, tau + size * step_tau, tau)
            part_ll, part_grad, part_hess = _loglik_parts(g_todo, y_todo, cens_todo, new_mu, new_tau, n)
            new_ll = np.where(todo, part_ll, ll)
            worse = todo & ~(new_ll >= ll - 1e-12)
            if not worse.any():
                break
            size = np.where(worse, size / 2, size)
        new_grad, new_hess = np.where(todo, part_grad, grad), np.where(todo, part_hess, hess)
        moved = np.maximum(np.abs(new_mu - mu), np.abs(new_tau - tau))
        mu, tau, ll, grad, hess = new_mu, new_tau, new_ll, new_grad, new_hess
        converged |= (moved < 1e-10) | (np.abs(grad).max(axis=0) < 1e-9)
        if converged.all() or (tau < -12).all():
            break
    a, b, d = hess
    det = a * d - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(np.where((a < 0) & (det > 0), -d / det, np.nan))
    ok = converged & (n_obs > 0) & (tau > -12) & np.isfinite(se)
    # The interval: the Wald one (z, the maximum-likelihood sigma) covered a 95% level only 72-86% of the
    # time at 3-8 attempts, as the plain mean's would with z and the n-divisor SD. Its small-sample form
    # instead: Student's t with (observed times - 1) degrees of freedom, the standard error scaled by
    # sqrt(n_obs / (n_obs - 1)). Without censoring that is exactly the t-interval of the log times; with it,
    # 96.5-97% in simulation (tests/baselining/test_statistics.py). One observed time gives no interval.
    with_ci = ok & (n_obs >= 2)
    df = np.maximum(n_obs - 1, 1)
    tq = stats.t.ppf(0.5 + level / 2, df)
    nan = np.full(n, np.nan)
    # groups without a maximum (masked out below) may hold huge values: no overflow warnings for them
    safe_mu = np.where(ok, mu, 0.0)
    half = np.where(with_ci, tq * np.where(ok, se, 0.0) * np.sqrt(np.maximum(n_obs, 1) / df), 0.0)
    return {
        "mu": np.where(ok, mu, nan),
        "sigma": np.where(ok, np.exp(np.where(ok, tau, 0.0)), nan),
        "se": np.where(ok, se, nan),
        "ci_low": np.where(with_ci, np.exp(safe_mu - half), nan),
        "ci_high": np.where(with_ci, np.exp(safe_mu + half), nan),
        "converged": converged,
        "ok": ok,
        "n_observed": n_obs.astype(int),
        "n_censored": n_cens.astype(int),
    }


def pooled_lognormal_many(
    group: np.ndarray,
    log_times: np.ndarray,
    censored: np.ndarray,
    n_groups: int,
    pool: np.ndarray,
    level: float = 0.95,
) -> dict[str, np.ndarray]:
    """The censored log-normal fit with one spread shared by each pool of groups (the suite, or each family:
    `pool` gives each group's pool, numbered from 0) and a median per group, by maximum likelihood.

    Baseliners' spread is much the same from task to task (~3x), so a task with few attempts borrows its
    spread from the rest of its pool: a task with a single success gets an estimate and an interval, and
    a few attempts a tighter interval than their own spread would give. Newton steps on all groups at once:
    the Hessian is an arrow (each group's median meets only its pool's spread), solved through the Schur
    complement of the pool's spread. The interval: Student's t with (times - groups) of the pool degrees of
    freedom and the standard error scaled by sqrt(times / (times - groups)), censored times counted: without
    censoring exactly the pooled-variance t-interval; with it, 95-96% coverage in simulation where counting
    only the observed times gave 97-99% (tests/baselining/test_statistics.py). Groups without an observed
    time (every attempt only a lower bound) have no maximum: NaN, as pools without a time beyond one per
    group.

    Returns per group: mu, se, ci_low / ci_high (of the median, minutes), ok; per group too, the pool's
    sigma; and `loglik` per pool (for comparing poolings: `pooling_test`).
    """
    group = np.asarray(group, dtype=np.intp)
    y = np.asarray(log_times, dtype=float)
    cens = np.asarray(censored, dtype=bool)
    pool = np.asarray(pool, dtype=np.intp)
    n_pools = int(pool.max()) + 1 if pool.size else 0
    n_obs = np.bincount(group, weights=~cens, minlength=n_groups)
    fitted = n_obs > 0
    keep = fitted[group]
    g, y, cens = group[keep], y[keep], cens[keep]
    k_pool = np.bincount(pool, weights=fitted, minlength=n_pools)
    obs_pool = np.bincount(pool, weights=n_obs, minlength=n_pools)
    usable = obs_pool - k_pool >= 1  # a time beyond one per group: else the spread has no estimate
    fitted &= usable[pool]
    keep = fitted[g]
    g, y, cens = g[keep], y[keep], cens[keep]
    times_pool = np.bincount(pool, weights=np.bincount(g, minlength=n_groups), minlength=n_pools)
    df_pool = times_pool - np.bincount(pool, weights=fitted, minlength=n_pools)

    safe_obs = np.maximum(n_obs, 1)
    mu = np.bincount(g, weights=np.where(cens, 0.0, y), minlength=n_groups) / safe_obs
    per_group = np.bincount(g, weights=np.where(cens, 0.0, (y - mu[g]) ** 2), minlength=n_groups)
    rss = np.bincount(pool, weights=per_group, minlength=n_pools)
    tau_pool = np.log(np.maximum(np.sqrt(rss / np.maximum(obs_pool - k_pool, 1)), 0.1))

    def parts(mu: np.ndarray, tau_pool: np.ndarray) -> tuple[np.ndarray, ...]:
        ll, grad, hess = _loglik_parts(g, y, cens, mu, tau_pool[pool], n_groups)
        total = lambda v: np.bincount(pool, weights=np.where(fitted, v, 0.0), minlength=n_pools)  # noqa: E731
        return total(ll), grad[0], total(grad[1]), hess[0], hess[1], total(hess[2])

    ll, g_mu, g_tau, a, b, d = parts(mu, tau_pool)
    converged = ~usable
    for _ in range(200):
        safe_a = np.where(fitted & (a < 0), a, -1.0)
        schur = d - np.bincount(pool, weights=np.where(fitted, b * b / safe_a, 0.0), minlength=n_pools)
        rhs = -g_tau + np.bincount(pool, weights=np.where(fitted, b * g_mu / safe_a, 0.0), minlength=n_pools)
        newton = schur < 0
        step_tau = np.where(newton, rhs / np.where(newton, schur, -1.0), g_tau / (np.abs(d) + 1))
        step_tau = np.clip(step_tau, -1.0, 1.0)
        step_mu = np.where(fitted, (-g_mu - b * step_tau[pool]) / safe_a, 0.0)
        size = np.ones(n_pools)
        todo = ~converged
        for _halving in range(40):
            new_mu = np.where(todo[pool], mu + size[pool] * step_mu, mu)
            new_tau = np.where(todo, tau_pool + size * step_tau, tau_pool)
            new = parts(new_mu, new_tau)
            worse = todo & ~(new[0] >= ll - 1e-12)
            if not worse.any():
                break
            size = np.where(worse, size / 2, size)
        moved = np.maximum(
            np.abs(new_tau - tau_pool),
            np.bincount(pool, weights=np.abs(new_mu - mu), minlength=n_pools),
        )
        mu, tau_pool = new_mu, new_tau
        ll, g_mu, g_tau, a, b, d = new
        grad_max = np.maximum(np.abs(g_tau), np.bincount(pool, weights=np.abs(g_mu), minlength=n_pools))
        converged |= (moved < 1e-10) | (grad_max < 1e-9)
        if converged.all():
            break
    safe_a = np.where(fitted & (a < 0), a, -1.0)
    schur = d - np.bincount(pool, weights=np.where(fitted, b * b / safe_a, 0.0), minlength=n_pools)
    # The observed information is -H; the inverse of the arrow's diagonal for each median:
    # 1/A_j + (B_j/A_j)^2 / S, with A = -a, B = -b, S = -schur (positive at a maximum).
    with np.errstate(divide="ignore", invalid="ignore"):
        var = -1 / safe_a + (b / safe_a) ** 2 / np.where(schur < 0, -schur, np.nan)[pool]
    ok = fitted & converged[pool] & (tau_pool[pool] > -12) & (a < 0) & np.isfinite(var) & (var > 0)
    se = np.sqrt(np.where(ok, var, 1.0))
    df = np.maximum(df_pool, 1)[pool]
    half = stats.t.ppf(0.5 + level / 2, df) * se * np.sqrt(np.maximum(times_pool, 1)[pool] / df)
    nan = np.full(n_groups, np.nan)
    safe_mu = np.where(ok, mu, 0.0)
    return {
        "mu": np.where(ok, mu, nan),
        "se": np.where(ok, se, nan),
        "sigma": np.where(ok, np.exp(np.where(ok, tau_pool[pool], 0.0)), nan),
        "ci_low": np.where(ok, np.exp(safe_mu - np.where(ok, half, 0.0)), nan),
        "ci_high": np.where(ok, np.exp(safe_mu + np.where(ok, half, 0.0)), nan),
        "ok": ok,
        "loglik": np.where(converged & usable, ll, np.nan),
        "tau_var": np.where(converged & usable & (schur < 0), -1 / np.where(schur < 0, schur, -1.0), np.nan),
        "df": np.where(usable, df_pool, 0).astype(int),
    }


def pooling_test(
    group: np.ndarray, log_times: np.ndarray, censored: np.ndarray, n_groups: int, family: np.ndarray
) -> tuple[float, int, float]:
    """Do the families' spreads differ? A Wald test of equal log spreads across the families' own fits,
    censoring-aware through each fit's information, each log spread and its variance corrected for the
    tasks' own medians (the factor times / (times - tasks) the interval uses): (statistic, degrees of
    freedom, p-value); NaN with fewer than two families fitted. In simulation (4 families of 10 tasks, 2-8
    attempts, a third censored) it rejects a true "same spread" 3-7% of the time at 5%; the plain
    likelihood-ratio test rejected it 9-15% (tests/baselining/test_statistics.py)."""
    family = np.asarray(family, dtype=np.intp)
    fit = pooled_lognormal_many(group, log_times, censored, n_groups, family)
    fams = np.unique(family[fit["ok"]])
    fams = fams[np.isfinite(fit["tau_var"][fams]) & (fit["df"][fams] > 0)]
    if fams.size < 2:
        return float("nan"), 0, float("nan")
    tasks = np.bincount(family[fit["ok"]], minlength=int(family.max()) + 1)[fams]
    df = fit["df"][fams].astype(float)
    inflate = (df + tasks) / df
    sigma = np.array([fit["sigma"][fit["ok"] & (family == f)][0] for f in fams])
    tau = np.log(sigma) + 0.5 * np.log(inflate)
    weight = 1 / (fit["tau_var"][fams] * inflate)
    centre = float((weight * tau).sum() / weight.sum())
    statistic = float((weight * (tau - centre) ** 2).sum())
    dof = int(fams.size - 1)
    return statistic, dof, float(stats.chi2.sf(statistic, dof))


# Contractors' spread below this (2% between them, on the log scale) is taken as none: the fit stops there
# (EM only creeps towards zero) and the effects it has are all but 0.
NO_SPREAD = 0.02


def contractor_effects(
    task: np.ndarray,
    contractor: np.ndarray,
    log_times: np.ndarray,
    censored: np.ndarray,
    n_tasks: int,
    n_contractors: int,
    level: float = 0.95,
) -> dict[str, np.ndarray]:
    """Log working time = task effect + contractor effect + noise, right-censored as everywhere here: who
    baselined a task matters (METR saw experience predict speed, and not the way one would guess), so a
    task done only by slow baseliners looks longer than it is.

    Crossed effects, all tasks and contractors at once: task medians are fixed effects, the spread is shared
    by the suite, and each contractor's effect is a random effect N(0, omega^2) (a contractor with few
    attempts is shrunk towards the average, as a mixed model does). Given omega, Newton steps on every task,
    contractor and the spread together maximise the penalised likelihood (its Hessian is dense but small:
    tasks + contractors + 1); omega^2 is then updated as in EM, the mean of each effect's square and
    posterior variance, until it settles. Standard errors come from the inverse of that Hessian (so a
    contractor's carries the uncertainty of the tasks they did), scaled by sqrt(times / (times - tasks)) and
    used with Student's t on (times - tasks) degrees of freedom, as the pooled fit's are.

    Returns per task: mu (log minutes for an average contractor), ci_low / ci_high (minutes), ok (tasks
    without a success have no estimate); per contractor: effect, se, speed = exp(effect) (their time over
    an average baseliner's on the same task: above 1 slower) with speed_low / speed_high, attempts; and
    sigma, omega, iterations (one-element arrays).
    """
    task = np.asarray(task, dtype=np.intp)
    who = np.asarray(contractor, dtype=np.intp)
    y = np.asarray(log_times, dtype=float)
    cens = np.asarray(censored, dtype=bool)
    pooled = pooled_lognormal_many(task, y, cens, n_tasks, np.zeros(n_tasks, dtype=np.intp), level)
    ok = pooled["ok"]
    rows = ok[task]
    task, who, y, cens = task[rows], who[rows], y[rows], cens[rows]
    n = task.size
    nan_t, nan_c = np.full(n_tasks, np.nan), np.full(n_contractors, np.nan)
    attempts = np.bincount(who, minlength=n_contractors)
    if n == 0:
        return {
            "mu": nan_t, "ci_low": nan_t, "ci_high": nan_t, "ok": ok, "effect": nan_c, "se": nan_c,
            "speed": nan_c, "speed_low": nan_c, "speed_high": nan_c, "attempts": attempts,
            "sigma": np.array([np.nan]), "omega": np.array([np.nan]), "iterations": np.array([0]),
        }  # fmt: skip
    mu = np.where(ok, pooled["mu"], 0.0)
    effect = np.zeros(n_contractors)
    tau = math.log(float(pooled["sigma"][ok][0]))
    omega2 = 0.25
    last_move = 0.0
    each = np.arange(n)
    held = np.flatnonzero(~ok)  # tasks without a success: no parameter to move (their rows are gone)

    def objective(
        mu: np.ndarray, effect: np.ndarray, tau: float
    ) -> tuple[float, np.ndarray, tuple[Any, ...]]:
        """The penalised log-likelihood, its gradient (tasks, contractors, tau) and its Hessian in pieces:
        the task block and the contractor block are diagonal, coupled by E (tasks x (contractors, tau))."""
        ll, grad, hess = _loglik_parts(each, y, cens, mu[task] + effect[who], np.full(n, tau), n)
        g_t = np.bincount(task, weights=grad[0], minlength=n_tasks)
        g_c = np.bincount(who, weights=grad[0], minlength=n_contractors) - effect / omega2
        g = np.r_[g_t, g_c, grad[1].sum()]
        d = np.bincount(task, weights=hess[0], minlength=n_tasks)
        d[held] = -1.0
        e = np.bincount(
            task * (n_contractors + 1) + who, weights=hess[0], minlength=n_tasks * (n_contractors + 1)
        )
        e = e.reshape(n_tasks, n_contractors + 1)
        e[:, -1] = np.bincount(task, weights=hess[1], minlength=n_tasks)
        hc = np.bincount(who, weights=hess[0], minlength=n_contractors) - 1 / omega2
        v = np.bincount(who, weights=hess[1], minlength=n_contractors)
        own = np.diag(np.r_[hc, hess[2].sum()])
        own[:-1, -1] = own[-1, :-1] = v
        m = own - e.T @ (e / d[:, None])  # the Schur complement of the task block
        return float(ll.sum() - (effect**2).sum() / (2 * omega2)), g, (d, e, m)

    def newton_step(g: np.ndarray, pieces: tuple[Any, ...]) -> np.ndarray:
        d, e, m = pieces
        r1, r2 = -g[:n_tasks], -g[n_tasks:]
        x2 = np.linalg.solve(m, r2 - e.T @ (r1 / d))
        return np.r_[(r1 - e @ x2) / d, x2]

    def variances(pieces: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Diagonal of the inverse of -H: the tasks', and the contractors' and tau's."""
        d, e, m = pieces
        lower = np.linalg.inv(-m)
        f = e / d[:, None]
        return -1 / d + ((f @ lower) * f).sum(axis=1), np.diag(lower)

    iterations = 0
    value, g, pieces = objective(mu, effect, tau)
    for iterations in range(1, 101):  # noqa: B007  (the count is reported)
        for _newton in range(100):
            step = newton_step(g, pieces)
            step[held] = 0.0
            step = step * min(1.0, 1.0 / max(1e-12, float(np.abs(step).max())))  # at most 1 on the log scale
            size = 1.0
            for _halving in range(40):
                trial = (mu + size * step[:n_tasks], effect + size * step[n_tasks:-1], tau + size * step[-1])
                new_value, new_g, new_pieces = objective(*trial)
                if new_value >= value - 1e-12:
                    break
                size /= 2
            mu, effect, tau = trial
            value, g, pieces = new_value, new_g, new_pieces
            if size * float(np.abs(step).max()) < 1e-10:
                break
        var_c = variances(pieces)[1][:-1]
        new_omega2 = max(float(np.mean(effect**2 + var_c)), NO_SPREAD**2)
        move = math.log(new_omega2 / omega2)
        settled = abs(move) < 1e-5 or new_omega2 <= NO_SPREAD**2
        if not settled and last_move * move > 0:  # EM creeps where the spread is small: twice the step
            new_omega2 = max(omega2 * math.exp(2 * move), NO_SPREAD**2)
        last_move = move
        omega2 = new_omega2
        value, g, pieces = objective(mu, effect, tau)
        if settled:
            break
    var_t, var_rest = variances(pieces)
    df = max(n - int(ok.sum()), 1)
    scale = math.sqrt(n / df)
    tq = stats.t.ppf(0.5 + level / 2, df)
    se_mu = np.sqrt(np.maximum(var_t, 0.0)) * scale
    se_c = np.sqrt(np.maximum(var_rest[:-1], 0.0)) * scale
    return {
        "mu": np.where(ok, mu, np.nan),
        "ci_low": np.where(ok, np.exp(mu - tq * se_mu), np.nan),
        "ci_high": np.where(ok, np.exp(mu + tq * se_mu), np.nan),
        "ok": ok,
        "effect": np.where(attempts > 0, effect, np.nan),
        "se": np.where(attempts > 0, se_c, np.nan),
        "speed": np.where(attempts > 0, np.exp(effect), np.nan),
        "speed_low": np.where(attempts > 0, np.exp(effect - tq * se_c), np.nan),
        "speed_high": np.where(attempts > 0, np.exp(effect + tq * se_c), np.nan),
        "attempts": attempts,
        "sigma": np.array([math.exp(tau)]),
        "omega": np.array([math.sqrt(omega2)]),
        "iterations": np.array([iterations]),
    }


# --- Per-task statistics over a whole suite (pandas in, pandas out; no database here) -----------------

HUMAN_SOURCES = ("baseline", "qa", "estimate")
TASK_STAT_COLUMNS = [
    "attempts", "successes", "success_rate", "invalid_excluded", "pending_review",
    "gmean_minutes", "gsd", "ci_low", "ci_high", "fastest_minutes", "slowest_minutes", "spread",
    "qa_runs", "qa_successes", "qa_gmean_minutes",
    "censored_n", "censored_median_minutes", "censored_sigma", "censored_ci_low", "censored_ci_high",
    "pooled_median_minutes", "pooled_sigma", "pooled_ci_low", "pooled_ci_high",
    "adjusted_median_minutes", "adjusted_ci_low", "adjusted_ci_high",
    "estimate_minutes", "human_minutes", "human_source",
]  # fmt: skip
POOLINGS = ("suite", "family")
# Which estimate is a task's baseline time (human_minutes, when its source is "baseline"): the success-only
# geometric mean (the default), the censored fit's median, or the pooled fit's.
BASELINE_ESTIMATES = {
    "gmean": "gmean_minutes",
    "censored": "censored_median_minutes",
    "pooled": "pooled_median_minutes",
    "adjusted": "adjusted_median_minutes",
}
FIT_OUTCOMES = ["success", "failure", "gave_up", "time_limit"]
SPEEDS = "speed_factors"  # task_statistics' result.attrs: the crossed fit's per-contractor frame


def _who(rows: pd.DataFrame) -> pd.Series:
    """Each attempt's contractor as exports name them: the pseudonym, else u_<user id>."""
    return rows["contractor"].fillna("u_" + rows["contractor_user"].astype(str))


def crossed_fit(rows: pd.DataFrame, level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """contractor_effects on attempts (task, outcome, working_seconds, contractor, contractor_user; the
    valid, timed, finished baselines): per task adjusted_median_minutes, adjusted_ci_low, adjusted_ci_high;
    per contractor speed_factor, speed_ci_low, speed_ci_high."""
    tasks, task_ids = pd.factorize(rows["task"])
    who, names = pd.factorize(_who(rows))
    fit = contractor_effects(
        tasks, who, np.log(rows["working_seconds"].to_numpy() / 60),
        (rows["outcome"] != "success").to_numpy(), len(task_ids), len(names), level,
    )  # fmt: skip
    per_task = pd.DataFrame(
        {
            "adjusted_median_minutes": np.exp(fit["mu"]),
            "adjusted_ci_low": fit["ci_low"],
            "adjusted_ci_high": fit["ci_high"],
        },
        index=task_ids,
    )
    per_contractor = pd.DataFrame(
        {"speed_factor": fit["speed"], "speed_ci_low": fit["speed_low"], "speed_ci_high": fit["speed_high"]},
        index=pd.Index(names, name="contractor"),
    )
    return per_task, per_contractor


def _log_summary(logs: pd.Series, level: float) -> pd.DataFrame:
    """Geometric mean, geometric SD and a t-interval per group of log minutes."""
    g = logs.groupby(level=0)
    n, mean, sd = g.count(), g.mean(), g.std(ddof=1)
    tq = pd.Series(stats.t.ppf(0.5 + level / 2, df=np.maximum(n - 1, 1)), index=n.index)
    half = (tq * sd / np.sqrt(n)).where(n > 1)
    return pd.DataFrame(
        {
            "n": n,
            "gmean": np.exp(mean),
            "gsd": np.exp(sd).where(n > 1, 1.0),
            "ci_low": np.exp(mean - half),
            "ci_high": np.exp(mean + half),
            "fastest": np.exp(g.min()),
            "slowest": np.exp(g.max()),
        }
    )


def task_statistics(
    tasks: pd.DataFrame,
    attempts: pd.DataFrame,
    *,
    source_order: tuple[str, ...] = HUMAN_SOURCES,
    level: float = 0.95,
    pooling: str = "suite",
    baseline_estimate: str = "gmean",
    adjusted: bool = True,
) -> pd.DataFrame:
    """One row per task (indexed like `tasks`, which needs `estimate_minutes`, and `family` to pool by
    family).

    `attempts` has one row per finished attempt: task, kind ("baseline" or "qa"), outcome, working_seconds,
    review_status. Invalid attempts are excluded from every figure and counted in `invalid_excluded`.
    Successes are observed times; failures, give-ups and time-limit stops are right-censored at their
    working time in the log-normal fit.
    """
    out = pd.DataFrame(index=tasks.index)
    a = attempts.loc[attempts["task"].isin(tasks.index)]
    invalid = a["review_status"] == "invalid"
    base = a.loc[(a["kind"] == "baseline") & ~invalid]
    qa = a.loc[(a["kind"] == "qa") & ~invalid]
    out["attempts"] = base.groupby("task").size()
    success = base["outcome"] == "success"
    out["successes"] = success.groupby(base["task"]).sum()
    out["invalid_excluded"] = (invalid & (a["kind"] == "baseline")).groupby(a["task"]).sum()
    out["pending_review"] = (base["review_status"] == "pending").groupby(base["task"]).sum()
    counts = ["attempts", "successes", "invalid_excluded", "pending_review"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out["success_rate"] = (out["successes"] / out["attempts"]).where(out["attempts"] > 0)

    minutes = base["working_seconds"] / 60
    ok_time = minutes > 0
    logs = np.log(minutes[success & ok_time]).set_axis(base.loc[success & ok_time, "task"])
    s = _log_summary(logs, level)
    out["gmean_minutes"], out["gsd"] = s["gmean"], s["gsd"]
    out["ci_low"], out["ci_high"] = s["ci_low"], s["ci_high"]
    out["fastest_minutes"], out["slowest_minutes"] = s["fastest"], s["slowest"]
    out["spread"] = out["slowest_minutes"] / out["fastest_minutes"]

    qa_success = (qa["outcome"] == "success") & (qa["working_seconds"] > 0)
    out["qa_runs"] = qa.groupby("task").size()
    out["qa_successes"] = qa_success.groupby(qa["task"]).sum()
    out[["qa_runs", "qa_successes"]] = out[["qa_runs", "qa_successes"]].fillna(0).astype("int64")
    qa_logs = np.log(qa.loc[qa_success, "working_seconds"] / 60).set_axis(qa.loc[qa_success, "task"])
    out["qa_gmean_minutes"] = _log_summary(qa_logs, level)["gmean"]

    fit_rows = base.loc[ok_time & base["outcome"].isin(FIT_OUTCOMES)]
    codes, uniques = pd.factorize(fit_rows["task"])
    fit = censored_lognormal_many(
        codes, np.log(fit_rows["working_seconds"].to_numpy() / 60),
        (fit_rows["outcome"] != "success").to_numpy(), len(uniques), level,
    )  # fmt: skip
    fitted = pd.DataFrame(
        {
            "censored_n": fit["n_censored"],
            "censored_median_minutes": np.exp(fit["mu"]),
            "censored_sigma": fit["sigma"],
            "censored_ci_low": fit["ci_low"],
            "censored_ci_high": fit["ci_high"],
        },
        index=uniques,
    )
    out = out.join(fitted)
    out["censored_n"] = out["censored_n"].fillna(0).astype("int64")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling is one of {', '.join(POOLINGS)}, not {pooling!r}")
    if pooling == "family":
        pool, _ = pd.factorize(tasks["family"].reindex(uniques))
    else:
        pool = np.zeros(len(uniques), dtype=np.intp)
    pooled = pooled_lognormal_many(
        codes, np.log(fit_rows["working_seconds"].to_numpy() / 60),
        (fit_rows["outcome"] != "success").to_numpy(), len(uniques), pool, level,
    )  # fmt: skip
    out = out.join(
        pd.DataFrame(
            {
                "pooled_median_minutes": np.exp(pooled["mu"]),
                "pooled_sigma": pooled["sigma"],
                "pooled_ci_low": pooled["ci_low"],
                "pooled_ci_high": pooled["ci_high"],
            },
            index=uniques,
        )
    )
    out["estimate_minutes"] = tasks["estimate_minutes"].astype("float64")

    if baseline_estimate == "adjusted" and not adjusted:
        raise ValueError("the adjusted estimate needs the contractor fit (adjusted=True)")
    speeds = None
    if adjusted and {"contractor", "contractor_user"} <= set(fit_rows.columns):
        per_task, speeds = crossed_fit(fit_rows, level)
        out = out.join(per_task)
    else:
        out = out.assign(adjusted_median_minutes=np.nan, adjusted_ci_low=np.nan, adjusted_ci_high=np.nan)
    if baseline_estimate not in BASELINE_ESTIMATES:
        raise ValueError(
            f"the baseline estimate is one of {', '.join(BASELINE_ESTIMATES)}, not {baseline_estimate!r}"
        )
    candidates = {
        "baseline": out[BASELINE_ESTIMATES[baseline_estimate]],
        "qa": out["qa_gmean_minutes"],
        "estimate": out["estimate_minutes"],
    }
    out["human_minutes"] = np.nan
    out["human_source"] = pd.Series(pd.NA, index=out.index, dtype="string")
    for source in reversed(source_order):  # the first source in the order wins: it is written last
        value = candidates[source]
        has = value.notna()
        out.loc[has, "human_minutes"] = value[has]
        out.loc[has, "human_source"] = source
    result = out[TASK_STAT_COLUMNS]
    if speeds is not None:  # the same fit's contractors, for contractor_table (one fit, not two)
        result.attrs[SPEEDS] = speeds
    return result


ESTIMATE_INTERVALS = {  # each baseline estimate's median and 95% interval columns
    "gmean": ("gmean_minutes", "ci_low", "ci_high"),
    "censored": ("censored_median_minutes", "censored_ci_low", "censored_ci_high"),
    "pooled": ("pooled_median_minutes", "pooled_ci_low", "pooled_ci_high"),
    "adjusted": ("adjusted_median_minutes", "adjusted_ci_low", "adjusted_ci_high"),
}


def second_opinion(baseline_estimate: str) -> str:
    """The estimate the chosen one is set beside: the success-only mean, or the censored fit when the mean
    is the one chosen."""
    return "censored" if baseline_estimate == "gmean" else "gmean"


def disagreement(stats: pd.DataFrame, baseline_estimate: str) -> pd.Series:
    """How far apart (a factor, 1 or more) the chosen estimate and its second opinion are per task; NaN
    where either is missing. Far apart means the attempts so far do not settle the task's time: the
    failures and give-ups, or who did it, move it (docs/exports.md, "Needs more baselines")."""
    chosen = stats[ESTIMATE_INTERVALS[baseline_estimate][0]]
    other = stats[ESTIMATE_INTERVALS[second_opinion(baseline_estimate)][0]]
    return np.exp(np.abs(np.log(chosen / other))).rename("disagreement")


def unsettled_tasks(stats: pd.DataFrame, baseline_estimate: str, factor: float) -> pd.DataFrame:
    """The tasks whose chosen estimate and its second opinion are more than `factor` apart, farthest first
    ("needs more baselines"): the task's stats with `disagreement`, `chosen_minutes`, `second_minutes`."""
    apart = disagreement(stats, baseline_estimate)
    out = stats.assign(  # (then filtered: a Series assigned to an empty frame would bring its whole index)
        disagreement=apart,
        chosen_minutes=stats[ESTIMATE_INTERVALS[baseline_estimate][0]],
        second_minutes=stats[ESTIMATE_INTERVALS[second_opinion(baseline_estimate)][0]],
    )
    return out.loc[apart > factor].sort_values("disagreement", ascending=False)


def speed_mix(attempts: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Who has baselined each task, by speed: each contractor's log speed factor from the crossed fit (by
    user id; above 0 slower than the average baseliner), and per task the sum of its baseliners' (above 0:
    done so far mostly by slow ones). For BALANCE_CONTRACTOR_MIX (docs/exports.md)."""
    a = attempts.loc[
        (attempts["kind"] == "baseline")
        & (attempts["review_status"] != "invalid")
        & (attempts["working_seconds"] > 0)
        & attempts["outcome"].isin(FIT_OUTCOMES)
    ]
    if a.empty:
        return pd.Series(dtype="float64"), pd.Series(dtype="float64")
    speeds = np.log(crossed_fit(a)[1]["speed_factor"])
    per_attempt = _who(a).map(speeds).fillna(0.0)
    by_user = per_attempt.groupby(a["contractor_user"]).first()
    return by_user, per_attempt.groupby(a["task"]).sum()


def family_table(stats: pd.DataFrame) -> pd.DataFrame:
    """Per family: tasks, how many have a baseline time, attempts, success rate, total human hours."""
    g = stats.groupby("family", sort=True)
    out = pd.DataFrame(
        {
            "tasks": g.size(),
            "baselined": g["human_source"].apply(lambda s: int((s == "baseline").sum())),
            "attempts": g["attempts"].sum(),
            "successes": g["successes"].sum(),
            "median_minutes": g["human_minutes"].median(),
            "total_hours": g["human_minutes"].sum(min_count=1) / 60,
        }
    )
    out["success_rate"] = (out["successes"] / out["attempts"]).where(out["attempts"] > 0)
    return out.reset_index()


def contractor_table(stats: pd.DataFrame, attempts: pd.DataFrame) -> pd.DataFrame:
    """Per contractor (pseudonym): valid baseline attempts, success rate, median speed relative to the
    task's geometric mean (working time / task gmean over their successes: below 1 is faster), and the
    speed factor of the crossed fit (crossed_fit: their time over an average baseliner's on the same task,
    failures and give-ups counted as censored, few attempts shrunk towards 1) with its 95% interval."""
    a = attempts.loc[(attempts["kind"] == "baseline") & (attempts["review_status"] != "invalid")]
    a = a.assign(
        success=a["outcome"] == "success",
        ratio=a["working_seconds"] / 60 / a["task"].map(stats["gmean_minutes"]),
        who=_who(a),
    )
    g = a.groupby("who", sort=True)
    out = pd.DataFrame(
        {
            "attempts": g.size(),
            "successes": g["success"].sum(),
            "relative_speed": a.loc[a["success"]].groupby("who")["ratio"].median(),
        }
    )
    out["success_rate"] = out["successes"] / out["attempts"]
    fit_rows = a.loc[(a["working_seconds"] > 0) & a["outcome"].isin(FIT_OUTCOMES)]
    if not len(fit_rows):
        out = out.assign(speed_factor=np.nan, speed_ci_low=np.nan, speed_ci_high=np.nan)
    else:  # the fit task_statistics made of the same rows, when it made it
        speeds = stats.attrs.get(SPEEDS)
        out = out.join(speeds if speeds is not None else crossed_fit(fit_rows)[1])
    return out.rename_axis("contractor").reset_index()
