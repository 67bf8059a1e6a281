"""Human-time statistics against independent computations and a simulation with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from baselining.statistics import (
    censored_lognormal,
    censored_lognormal_many,
    contractor_effects,
    geometric_summary,
    pooled_lognormal_many,
    pooling_test,
    task_statistics,
)


def test_geometric_mean_matches_scipy() -> None:
    times = [3.2, 5.5, 4.1, 12.0, 7.7]
    s = geometric_summary(times)
    assert s is not None
    assert s.gmean == pytest.approx(stats.gmean(times), rel=1e-12)
    assert s.gsd == pytest.approx(stats.gstd(times), rel=1e-12)
    assert s.ci_low < s.gmean < s.ci_high
    assert geometric_summary([]) is None
    single = geometric_summary([4.0])
    assert single is not None and single.gmean == 4.0 and math.isnan(single.ci_low)


def test_censored_fit_matches_a_direct_grid_maximisation() -> None:
    observed = [8.0, 12.5, 9.7, 20.1, 15.2, 11.0]
    censored = [30.0, 45.0, 25.0]
    fit = censored_lognormal(observed, censored)
    assert fit is not None and fit.converged
    lo, lc = np.log(observed), np.log(censored)
    mus, sigmas = np.meshgrid(np.linspace(1.5, 4.5, 601), np.linspace(0.05, 2.0, 391), indexing="ij")
    grid = stats.norm.logpdf(lo[:, None, None], mus, sigmas).sum(axis=0) + stats.norm.logsf(
        lc[:, None, None], mus, sigmas
    ).sum(axis=0)
    i, j = np.unravel_index(np.argmax(grid), grid.shape)
    best = (mus[i, j], sigmas[i, j])
    assert math.log(fit.median) == pytest.approx(best[0], abs=0.01)
    assert fit.sigma == pytest.approx(best[1], abs=0.01)
    # without censored times the fit is the geometric mean of the observed ones
    plain = censored_lognormal(observed, [])
    assert plain is not None and plain.median == pytest.approx(stats.gmean(observed), rel=1e-4)
    assert fit.median > plain.median * 1.2  # the censored attempts pull the estimate up
    assert censored_lognormal([], [10.0]) is None


@pytest.mark.slow
def test_simulation_recovers_the_true_median_and_shows_the_success_only_bias() -> None:
    """Hard tasks: baseliners (about 3x spread) give up after a patience limit; successes are the fast ones."""
    true_median, sigma = 60.0, math.log(3) / 1.645  # 90% of baseliners within about 3x of each other
    covered, bias = 0, []
    seeds = range(100)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        times = rng.lognormal(math.log(true_median), sigma, size=12)
        patience = rng.uniform(40, 120, size=12)  # they give up (censored) at their patience
        obs, cens = times[times <= patience], patience[times > patience]
        if obs.size == 0:
            continue
        fit = censored_lognormal(list(obs), list(cens))
        assert fit is not None
        covered += fit.ci_low <= true_median <= fit.ci_high
        bias.append(math.log(stats.gmean(obs)) - math.log(true_median))
    print(
        f"censored fit covered the true median in {covered} of {len(bias)} seeds; "
        f"success-only gmean log-bias {np.mean(bias):+.3f}"
    )
    assert covered >= 0.9 * len(bias), f"covered {covered} of {len(bias)}"
    assert np.mean(bias) < -0.1  # the success-only geometric mean is biased low on hard tasks


def test_many_tasks_at_once_agree_with_one_at_a_time() -> None:
    """The batched Newton fit over a suite equals the fit of each task alone (and scipy's optimiser)."""
    from scipy import optimize

    from baselining.statistics import censored_lognormal_many

    rng = np.random.default_rng(7)
    groups, times, cens = [], [], []
    for g in range(40):
        n = int(rng.integers(2, 9))
        t = rng.lognormal(rng.uniform(1, 5), rng.uniform(0.2, 1.5), size=n)
        c = rng.random(n) < 0.35
        c[0] = False  # at least two observed times
        c[1] = False
        groups += [g] * n
        times += list(t)
        cens += list(c)
    g_arr, t_arr, c_arr = np.array(groups), np.log(times), np.array(cens)
    many = censored_lognormal_many(g_arr, t_arr, c_arr, 40)
    assert many["ok"].all()
    for g in range(40):
        obs, cen = t_arr[(g_arr == g) & ~c_arr], t_arr[(g_arr == g) & c_arr]

        def nll(p: np.ndarray, obs: np.ndarray = obs, cen: np.ndarray = cen) -> float:
            return -float(stats.norm.logpdf(obs, p[0], p[1]).sum() + stats.norm.logsf(cen, p[0], p[1]).sum())

        ref = optimize.minimize(nll, [obs.mean(), 1.0], method="Nelder-Mead",
                                options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000})  # fmt: skip
        assert many["mu"][g] == pytest.approx(ref.x[0], abs=1e-4)
        assert many["sigma"][g] == pytest.approx(ref.x[1], abs=1e-4)
        one = censored_lognormal(list(np.exp(obs)), list(np.exp(cen)))
        assert one is not None and math.log(one.median) == pytest.approx(many["mu"][g], abs=1e-9)


def test_no_maximum_is_reported_not_invented() -> None:
    # one observed time and nothing censored above it: the likelihood grows without bound as sigma shrinks
    assert censored_lognormal([10.0], []) is None
    assert censored_lognormal([10.0], [5.0]) is None
    # a censored time above it bounds sigma: a maximum exists
    fit = censored_lognormal([10.0], [30.0, 40.0])
    assert fit is not None and fit.median > 10.0


def test_the_censored_interval_holds_its_level_at_few_attempts() -> None:
    """At 3-8 attempts per task, a 95% interval covers the true median 93-97% of the time (issue 17): the
    Wald interval it replaced covered 72-86%. Baseliners about 3x apart; each gives up at a patience of
    their own (independent of the task's time), so the slow ones are censored."""
    rng = np.random.default_rng(2026)
    sigma = math.log(3)
    for n in range(3, 9):
        tasks = 3000
        mu = rng.uniform(0, math.log(960), tasks)  # medians from 1 minute to 16 hours
        group = np.repeat(np.arange(tasks), n)
        log_time = mu[group] + sigma * rng.standard_normal(group.size)
        patience = mu[group] + rng.uniform(-0.5, 2.0, group.size)  # about a third give up
        censored = log_time > patience
        fit = censored_lognormal_many(group, np.minimum(log_time, patience), censored, tasks)
        has = ~np.isnan(fit["ci_low"])
        truth = np.exp(mu)
        coverage = float(((fit["ci_low"] <= truth) & (truth <= fit["ci_high"]))[has].mean())
        print(
            f"{n} attempts: {censored.mean():.0%} censored, interval for {has.mean():.0%}, coverage {coverage:.3f}"
        )
        assert 0.93 <= coverage <= 0.975, (n, coverage)


# --- The pooled fit: one spread for the suite (or each family), a median per task (issue 17, item 2) -------


def test_the_pooled_fit_without_censoring_is_the_pooled_variance_t_interval() -> None:
    rng = np.random.default_rng(5)
    sizes = np.array([1, 2, 3, 5, 8])
    group = np.repeat(np.arange(sizes.size), sizes)
    y = rng.normal(0, 1, group.size) + group
    fit = pooled_lognormal_many(group, y, np.zeros(y.size, dtype=bool), sizes.size, np.zeros(sizes.size, int))
    means = np.array([y[group == j].mean() for j in range(sizes.size)])
    rss = sum(float(((y[group == j] - means[j]) ** 2).sum()) for j in range(sizes.size))
    df = y.size - sizes.size
    half = stats.t.ppf(0.975, df) * np.sqrt(rss / df / sizes)
    assert np.allclose(fit["mu"], means)
    assert np.allclose(np.log(fit["ci_high"]) - fit["mu"], half)
    assert np.allclose(fit["mu"] - np.log(fit["ci_low"]), half)
    assert np.allclose(fit["sigma"], math.sqrt(rss / y.size))  # the maximum-likelihood spread
    assert fit["ok"].all()  # the task with one time too: it borrows the spread


def _suite(
    rng: np.random.Generator, tasks: int, n: int, sigma: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A simulated suite: medians from 1 minute to 16 hours, n attempts each, ~a third giving up."""
    mu = rng.uniform(0, math.log(960), tasks)
    group = np.repeat(np.arange(tasks), n)
    spread = np.broadcast_to(np.asarray(sigma, dtype=float), (tasks,))[group]
    log_time = mu[group] + spread * rng.standard_normal(group.size)
    patience = mu[group] + rng.uniform(-0.5, 2.0, group.size)
    return mu, group, np.minimum(log_time, patience), log_time > patience


def test_the_pooled_interval_holds_its_level_and_is_tighter_at_few_attempts() -> None:
    """93-97% coverage of a 95% interval at 2-8 attempts per task, with a third of the attempts censored;
    narrower than each task's own censored interval, and there for tasks with a single success."""
    rng = np.random.default_rng(17)
    for n in (2, 3, 4, 6, 8):
        covered, width, own_width, single = [], [], [], 0
        for _ in range(60):
            mu, group, y, censored = _suite(rng, 50, n, math.log(3))
            fit = pooled_lognormal_many(group, y, censored, 50, np.zeros(50, dtype=np.intp))
            ok = fit["ok"]
            covered.append(float((np.abs(fit["mu"] - mu) <= np.log(fit["ci_high"]) - fit["mu"])[ok].mean()))
            width.append(float(np.log(fit["ci_high"] / fit["ci_low"])[ok].mean()))
            own = censored_lognormal_many(group, y, censored, 50)
            has = ~np.isnan(own["ci_low"])
            own_width.append(
                float(np.log(own["ci_high"] / own["ci_low"])[has].mean()) if has.any() else np.inf
            )
            successes = np.bincount(group, weights=~censored, minlength=50)
            single += int((ok & (successes == 1)).sum())
        coverage = float(np.mean(covered))
        print(
            f"{n} attempts: pooled coverage {coverage:.3f}, width {np.mean(width):.2f} (own {np.mean(own_width):.2f})"
        )
        assert 0.93 <= coverage <= 0.97, (n, coverage)
        assert np.mean(width) < np.mean(own_width)
        assert single > 0


def test_the_families_spread_test_holds_its_level_and_finds_a_real_difference() -> None:
    rng = np.random.default_rng(23)
    family = np.arange(40) % 4
    for n in (3, 8):
        null = [pooling_test(*_suite(rng, 40, n, math.log(3))[1:], 40, family)[2] for _ in range(200)]
        rejected = float(np.mean(np.array(null) < 0.05))
        spreads = math.log(3) * (1 + 0.6 * (family == 0))
        alt = [pooling_test(*_suite(rng, 40, n, spreads)[1:], 40, family)[2] for _ in range(100)]
        power = float(np.mean(np.array(alt) < 0.05))
        print(
            f"{n} attempts: a true 'same spread' rejected {rejected:.1%} at 5%; 1.6x in one family found {power:.0%}"
        )
        assert 0.02 <= rejected <= 0.08, (n, rejected)
        assert power >= (0.3 if n == 3 else 0.8), (n, power)


def test_task_statistics_give_the_pooled_columns_and_the_chosen_estimate() -> None:
    tasks = pd.DataFrame(
        {"estimate_minutes": [np.nan] * 3, "family": ["a", "a", "b"]}, index=pd.Index([1, 2, 3], name="id")
    )
    minutes = {1: [10, 20, 40], 2: [30], 3: [100, 150, 300, 90]}
    attempts = pd.DataFrame(
        [
            {
                "task": t,
                "kind": "baseline",
                "outcome": "success",
                "working_seconds": m * 60.0,
                "review_status": "valid",
                "contractor_user": 1,
                "contractor": "c_1",
            }
            for t, ms in minutes.items()
            for m in ms
        ]
    )
    out = task_statistics(tasks, attempts)
    assert out["pooled_median_minutes"].notna().all()  # task 2's single time included
    assert out.loc[2, "pooled_median_minutes"] == pytest.approx(30)
    assert out.loc[2, "gmean_minutes"] == pytest.approx(30) and np.isnan(out.loc[2, "ci_low"])
    assert out.loc[2, "pooled_ci_low"] < 30 < out.loc[2, "pooled_ci_high"]
    assert out["pooled_sigma"].nunique() == 1
    assert (out["human_minutes"] == out["gmean_minutes"]).all()  # the default estimate
    by_family = task_statistics(tasks, attempts, pooling="family", baseline_estimate="pooled")
    assert by_family.loc[1, "pooled_sigma"] != by_family.loc[3, "pooled_sigma"]
    assert (by_family["human_minutes"] == by_family["pooled_median_minutes"]).all()
    with pytest.raises(ValueError, match="pooling"):
        task_statistics(tasks, attempts, pooling="contractor")


# --- Contractor effects (issue 17, item 3) ---------------------------------------------------------------


def _crossed(rng: np.random.Generator, confounded: bool) -> dict[str, float]:
    """20 simulated suites of 60 tasks, 4 attempts each from 15 contractors whose speeds are N(0, 0.4) on the
    log scale, a third censored; confounded: slow baseliners were given the long tasks 9 times in 10."""
    contractor_cover, task_cover, adjusted_err, pooled_err = [], [], [], []
    for _ in range(20):
        tasks, contractors, n = 60, 15, 4
        mu = np.sort(rng.uniform(0, math.log(960), tasks))
        speed = np.sort(rng.normal(0, 0.4, contractors))  # contractor 0 the fastest
        slow = np.arange(contractors) >= contractors // 2
        picks = []
        for t in range(tasks):
            weight = np.where(slow == (t >= tasks // 2), 0.9, 0.1) if confounded else np.ones(contractors)
            picks.append(rng.choice(contractors, n, replace=False, p=weight / weight.sum()))
        who = np.concatenate(picks)
        task = np.repeat(np.arange(tasks), n)
        log_time = mu[task] + speed[who] + 0.8 * rng.standard_normal(task.size)
        patience = mu[task] + speed[who] + rng.uniform(-0.5, 2.0, task.size)
        censored = log_time > patience
        y = np.minimum(log_time, patience)
        fit = contractor_effects(task, who, y, censored, tasks, contractors)
        truth = np.exp(speed)
        contractor_cover.append(float(((fit["speed_low"] <= truth) & (truth <= fit["speed_high"])).mean()))
        ok = fit["ok"]
        task_cover.append(float(((fit["ci_low"] <= np.exp(mu)) & (np.exp(mu) <= fit["ci_high"]))[ok].mean()))
        pooled = pooled_lognormal_many(task, y, censored, tasks, np.zeros(tasks, dtype=np.intp))
        adjusted_err.append(float(np.nanmean(np.abs(fit["mu"] - mu))))
        pooled_err.append(float(np.nanmean(np.abs(pooled["mu"] - mu))))
    result = {
        "contractors": float(np.mean(contractor_cover)),
        "tasks": float(np.mean(task_cover)),
        "adjusted": float(np.mean(adjusted_err)),
        "pooled": float(np.mean(pooled_err)),
    }
    print(
        ("confounded: " if confounded else "random: ") + ", ".join(f"{k} {v:.3f}" for k, v in result.items())
    )
    return result


def test_contractor_effects_find_each_baseliners_speed_and_unbias_the_tasks_they_did() -> None:
    """Assigned at random, each contractor's 95% interval covers their true speed 93-97% of the time and
    each task's its median too. When slow baseliners were given the long tasks (the pooled medians then
    biased up on long tasks and down on short ones), the adjusted medians are closer to the truth; the
    contractors' intervals cover less there (87-89%): with so little overlap part of each contractor's effect
    cannot be told from the tasks' (docs/exports.md says so)."""
    rng = np.random.default_rng(41)
    random = _crossed(rng, confounded=False)
    assert 0.93 <= random["contractors"] <= 0.97 and 0.93 <= random["tasks"] <= 0.97
    assert random["adjusted"] < random["pooled"]
    confounded = _crossed(rng, confounded=True)
    assert confounded["adjusted"] < 0.92 * confounded["pooled"]
    assert confounded["contractors"] >= 0.85 and 0.92 <= confounded["tasks"] <= 0.97


def test_contractor_effects_without_data_say_nothing() -> None:
    empty = np.array([], dtype=np.intp)
    fit = contractor_effects(empty, empty, np.array([]), np.array([], dtype=bool), 2, 2)
    assert np.isnan(fit["mu"]).all() and np.isnan(fit["speed"]).all()
    # every task done once: no spread to learn, nothing to say
    fit = contractor_effects(np.arange(3), np.arange(3), np.zeros(3), np.zeros(3, dtype=bool), 3, 3)
    assert not fit["ok"].any() and np.isnan(fit["speed"]).all()


# --- Needs more baselines (issue 17, item 5) -------------------------------------------------------------


def test_tasks_whose_estimates_disagree_are_the_unsettled_ones() -> None:
    """Task 1: three quick successes and three long give-ups (the success-only mean reads it short); task 2:
    six successes close together; task 3: nothing finished. Only task 1 is listed, with how far apart."""
    from baselining.statistics import disagreement, unsettled_tasks

    tasks = pd.DataFrame({"estimate_minutes": [np.nan] * 3, "family": ["f"] * 3}, index=[1, 2, 3])
    rows = [(1, "success", m) for m in (10, 11, 12)] + [(1, "gave_up", m) for m in (120, 150, 180)]
    rows += [(2, "success", m) for m in (20, 22, 24, 26, 28, 30)]
    attempts = pd.DataFrame(
        [
            {
                "task": t,
                "kind": "baseline",
                "outcome": o,
                "working_seconds": m * 60.0,
                "review_status": "valid",
            }
            for t, o, m in rows
        ]
    )
    out = task_statistics(tasks, attempts, baseline_estimate="censored", adjusted=False)
    apart = disagreement(out, "censored")
    assert apart[1] > 3 and apart[2] == pytest.approx(1.0, abs=0.05) and np.isnan(apart[3])
    listed = unsettled_tasks(out, "censored", 1.5)
    assert list(listed.index) == [1]
    assert listed.loc[1, "second_minutes"] == pytest.approx(stats.gmean([10, 11, 12]))
    assert listed.loc[1, "chosen_minutes"] == out.loc[1, "censored_median_minutes"]
    # the mean chosen: set beside the censored median instead, the same task apart
    assert list(unsettled_tasks(out, "gmean", 1.5).index) == [1]
    assert unsettled_tasks(out, "censored", 1000.0).empty  # none so far apart: none listed
