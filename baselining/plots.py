"""The dashboard's plots, drawn server-side with matplotlib as inline SVG (no JavaScript, print-friendly).

Look at the data, not only the summary: every attempt is a point on a log axis beside its task's geometric
mean and interval, and the censoring-aware estimate where it differs.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

from baselining.statistics import ESTIMATE_INTERVALS, second_opinion

# Figures are built with Figure() directly, never pyplot: no global state shared between requests.
# Text as <text>, not outlines: smaller files, selectable and searchable labels, the page's own font.
# Labels are data (task and agent names): a `$` in one is text, never mathtext to parse (or fail on).
matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",
        "font.family": "sans-serif",
        "svg.hashsalt": "baselines",
        "text.parse_math": False,
    }
)

SOURCE_COLOURS = {"baseline": "#2563eb", "qa": "#d97706", "estimate": "#9ca3af", "none": "#e5e7eb"}
SOURCE_LABELS = {
    "baseline": "baselined",
    "qa": "QA runs only",
    "estimate": "estimate only",
    "none": "nothing",
}
MINUTE_TICKS = [0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 240, 480, 960, 1920, 3840]
POINTS_TASKS = 40  # tasks per strip plot: more would not be readable


def minutes_label(m: float, _pos: Any = None) -> str:
    if m < 1:
        return f"{m * 60:g} s"
    if m < 60:
        return f"{m:g} min"
    return f"{m / 60:g} h"


def log_minutes_axis(ax: Any, low: float, high: float, max_ticks: int = 8) -> None:
    """A log x axis from low to high minutes, ticked at round durations (at most max_ticks labels)."""
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ticks = [t for t in MINUTE_TICKS if low <= t <= high] or [low, high]
    ticks = ticks[:: max(1, -(-len(ticks) // max_ticks))]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(minutes_label))
    ax.xaxis.set_minor_formatter(NullFormatter())


def svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]  # inline: drop the XML prolog and doctype


ESTIMATE_LABELS = {
    "gmean": "geometric mean of successes",
    "censored": "censoring-aware median",
    "pooled": "pooled median (one spread for the suite)",
    "adjusted": "contractor-adjusted median",
}


def task_points(
    stats: pd.DataFrame, attempts: pd.DataFrame, estimate: str = "gmean", limit: int = POINTS_TASKS
) -> str | None:
    """Per task, longest first: each valid baseline's working time, filled when it succeeded and hollow
    when it was censored (failed, gave up, time limit); the chosen estimate (`estimate`) with its 95%
    interval, and beside it its second opinion (the success-only geometric mean, or the censored median
    when the mean is the one chosen) with its own. With more than `limit` tasks, `limit` of them evenly
    spread over the range of lengths."""
    shown = stats.loc[stats["attempts"] > 0].sort_values("human_minutes", ascending=False)
    if shown.empty:
        return None
    if len(shown) > limit:
        shown = shown.iloc[np.unique(np.linspace(0, len(shown) - 1, limit).round().astype(int))]
    a = attempts.loc[
        attempts["task"].isin(shown.index)
        & (attempts["kind"] == "baseline")
        & (attempts["review_status"] != "invalid")
        & (attempts["working_seconds"] > 0)
    ]
    row = {task: i for i, task in enumerate(shown.index)}
    fig = Figure(figsize=(9, 0.42 * len(shown) + 1.4))
    ax = fig.subplots()
    y = a["task"].map(row) + np.random.default_rng(0).uniform(-0.12, 0.12, size=len(a))
    ok = (a["outcome"] == "success").to_numpy()
    minutes = (a["working_seconds"] / 60).to_numpy()
    ax.scatter(minutes[ok], y[ok], s=18, color="#2563eb", zorder=3, label="success")
    ax.scatter(minutes[~ok], y[~ok], s=22, marker=">", facecolors="none", edgecolors="#dc2626", zorder=3,
               label="censored (failed, gave up, time limit)")  # fmt: skip
    ys = np.arange(len(shown))
    seen = [minutes]
    # the chosen estimate just below each task's row, its second opinion just above
    for name, offset, color, marker in (
        (estimate, 0.26, "#7c3aed", "D"),
        (second_opinion(estimate), -0.26, "#111827", "|"),
    ):
        median, low, high = ESTIMATE_INTERVALS[name]
        m = shown[median].to_numpy(dtype=float)
        lo, hi = shown[low].to_numpy(dtype=float), shown[high].to_numpy(dtype=float)
        has_ci = ~np.isnan(lo)
        chosen = name == estimate
        label = ESTIMATE_LABELS[name] + (" (the baseline time)" if chosen else "")
        ax.hlines(ys[has_ci] + offset, lo[has_ci], hi[has_ci], color=color, linewidth=1.5, zorder=2)
        ax.scatter(m, ys + offset, marker=marker, s=26 if chosen else 120, color=color, zorder=4,
                   label=label + " and 95% interval")  # fmt: skip
        seen.append(m[~np.isnan(m)])
    ax.set_yticks(ys, [f"{f}/{n}" for f, n in zip(shown["family"], shown["name"], strict=True)], fontsize=8)
    ax.invert_yaxis()
    # the axis spans the data and the medians; an interval from two or three times can be far wider and
    # is clipped (the table below gives its numbers)
    everything = np.concatenate(seen)
    log_minutes_axis(ax, float(everything.min()) / 1.5, float(everything.max()) * 1.5)
    ax.set_xlabel("working time (log scale)")
    ax.grid(axis="x", color="#e5e7eb")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    return svg(fig)


def length_distribution(stats: pd.DataFrame) -> str | None:
    """How long the suite's tasks are (human_minutes), stacked by where the time comes from."""
    have = stats.loc[stats["human_minutes"].notna()]
    if have.empty:
        return None
    lo = max(0.5, float(have["human_minutes"].min()) / 1.2)
    hi = float(have["human_minutes"].max()) * 1.2
    bins = np.geomspace(lo, max(hi, lo * 4), 25)
    fig = Figure(figsize=(6.5, 3.2))
    ax = fig.subplots()
    sources = [s for s in ("baseline", "qa", "estimate") if (have["human_source"] == s).any()]
    ax.hist(
        [have.loc[have["human_source"] == s, "human_minutes"] for s in sources],
        bins=list(bins),
        stacked=True,
        color=[SOURCE_COLOURS[s] for s in sources],
        label=[SOURCE_LABELS[s] for s in sources],
    )
    log_minutes_axis(ax, bins[0], bins[-1], max_ticks=7)
    ax.set_xlabel("human time per task (log scale)")
    ax.set_ylabel("tasks")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return svg(fig)


def coverage(stats: pd.DataFrame) -> str | None:
    """One bar: how many tasks have a baseline time, QA times only, an estimate only, or nothing."""
    if stats.empty:
        return None
    counts = stats["human_source"].fillna("none").value_counts()
    fig = Figure(figsize=(6.5, 1.1))
    ax = fig.subplots()
    left = 0
    for s in ("baseline", "qa", "estimate", "none"):
        n = int(counts.get(s, 0))
        if n:
            ax.barh(0, n, left=left, color=SOURCE_COLOURS[s], edgecolor="white")
            share = n / len(stats)
            if share > 0.08:
                colour = "white" if s in ("baseline", "qa") else "#111827"
                ax.text(left + n / 2, 0, f"{SOURCE_LABELS[s]}: {n}", ha="center", va="center", fontsize=8,
                        color=colour)  # fmt: skip
            left += n
    ax.set_xlim(0, len(stats))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yticks([])
    ax.set_xlabel("tasks")
    ax.spines[["top", "right", "left"]].set_visible(False)
    return svg(fig)


def speed_by_experience(contractors: pd.DataFrame) -> str | None:
    """Does experience predict speed? Each contractor's speed factor (the crossed fit's, with its 95%
    interval; log scale, 1 = an average baseliner) against the years of experience they stated, and beside
    it against expertise match: the years they stated in the areas their tasks name."""
    panels = [
        (column, label)
        for column, label in (
            ("years_experience", "years of experience stated in the application"),
            ("years_in_task_areas", "years stated in the tasks' own areas"),
        )
        if column in contractors and (contractors["speed_factor"].notna() & contractors[column].notna()).any()
    ]
    if not panels:
        return None
    fig = Figure(figsize=(6.5 * len(panels), 3.2))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    rated = contractors.loc[contractors["speed_factor"].notna()]
    low_all, high_all = (
        rated["speed_ci_low"].to_numpy(dtype=float),
        rated["speed_ci_high"].to_numpy(dtype=float),
    )
    span = max(float(np.nanmax(high_all)), 1.0 / float(np.nanmin(low_all)), 1.5)
    for ax, (column, label) in zip(axes, panels, strict=True):
        have = rated.loc[rated[column].notna()]
        speed = have["speed_factor"].to_numpy(dtype=float)
        low = have["speed_ci_low"].to_numpy(dtype=float)
        high = have["speed_ci_high"].to_numpy(dtype=float)
        ax.errorbar(
            have[column].to_numpy(dtype=float), speed, yerr=[speed - low, high - speed], fmt="o",
            color=SOURCE_COLOURS["baseline"], ecolor="#93c5fd", elinewidth=1.5, capsize=0, markersize=5,
        )  # fmt: skip
        ax.axhline(1.0, color="#9ca3af", linewidth=1, linestyle="--")
        ax.set_yscale("log")
        ax.set_ylim(1 / span / 1.1, span * 1.1)
        ax.yaxis.set_major_locator(
            FixedLocator([2.0**k for k in range(-4, 5) if 1 / span / 1.1 <= 2.0**k <= span * 1.1])
        )
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}x"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("time vs an average baseliner")
    return svg(fig)


def dashboard_plots(stats: pd.DataFrame, attempts: pd.DataFrame, estimate: str) -> dict[str, str | None]:
    return {
        "coverage": coverage(stats),
        "lengths": length_distribution(stats),
        "points": task_points(stats, attempts, estimate),
    }
