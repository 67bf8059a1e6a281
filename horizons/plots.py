"""Time-horizon plots (inline SVG, as the statistics dashboard's): per agent, its runs against human minutes
with binned success rates, the fitted curve, its bootstrap band and the horizon; and every agent's 50%
horizon against release date with the exponential trend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from baselining.plots import MINUTE_TICKS, log_minutes_axis, minutes_label, svg
from horizons.fit import EPOCH, HorizonResult, binned_success, success_curve


def short_minutes(m: float) -> str:
    if m < 1:
        return f"{m * 60:.0f} s" if m * 60 >= 1 else "< 1 s"
    return f"{m:.1f} min" if m < 60 else f"{m / 60:.1f} h"


def agent_plot(agent: str, runs: pd.DataFrame, result: HorizonResult) -> str:
    row = result.table.set_index("agent").loc[agent]
    mine = runs.loc[runs["agent"] == agent]
    minutes = mine["human_minutes"].to_numpy(dtype=float)
    lo, hi = float(minutes.min()) / 1.5, float(minutes.max()) * 1.5
    grid = np.geomspace(lo, hi, 200)
    fig = Figure(figsize=(5.2, 3.0))
    ax = fig.subplots()
    y = mine["score_binarized"].where(mine["score_binarized"].notna(), (mine["score"] >= 0.5).astype(float))
    jitter = np.random.default_rng(0).uniform(-0.03, 0.03, size=len(mine))
    ax.scatter(minutes, y.to_numpy(dtype=float) + jitter, s=6, alpha=0.25, color="#6b7280", label="runs")
    reps = result.replicates.get(agent)
    if reps is not None and len(reps):
        curves = np.stack([success_curve(s, i, grid) for s, i in reps])
        low, high = np.nanpercentile(curves, [2.5, 97.5], axis=0)
        ax.fill_between(grid, low, high, color="#93c5fd", alpha=0.5, label="95% bootstrap band")
    if not (pd.isna(row["slope"]) or pd.isna(row["intercept"])):
        ax.plot(
            grid,
            success_curve(float(row["slope"]), float(row["intercept"]), grid),
            color="#1d4ed8",
            label="fit",
        )
    bins = binned_success(mine)
    ax.scatter(bins["centre"], bins["success"], s=28, color="#111827", zorder=4, label="binned success")
    for c, s, n in zip(bins["centre"], bins["success"], bins["n"], strict=True):
        ax.annotate(str(int(n)), (c, s), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    p50 = row["p50_minutes"]
    title = agent
    if not pd.isna(p50) and lo <= float(p50) <= hi:
        ax.axvline(float(p50), color="#dc2626", linestyle="--", linewidth=1)
        label = f"50%: {short_minutes(float(p50))}"
        ax.text(float(p50), 1.08, label, color="#dc2626", ha="center", fontsize=8)
    elif not pd.isna(p50):
        title += f" (50% at {short_minutes(float(p50))}: outside its tasks)"
    log_minutes_axis(ax, lo, hi, max_ticks=7)
    ax.set_ylim(-0.1, 1.15)
    ax.set_ylabel("success")
    ax.set_xlabel("human time (log scale)")
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return svg(fig)


# Where a point's label may go (offset in points, alignment), nearest first.
LABEL_SPOTS = [
    (dx, dy * up, "left" if dx > 0 else "right", "bottom" if up > 0 else "top")
    for dy in (4, 14, 24)
    for dx in (4, -4)
    for up in (1, -1)
]


def _label_apart(fig: Figure, ax: Any, points: list[tuple[Any, float, str]]) -> None:
    """Each point's label at the first of LABEL_SPOTS where it overlaps no label already placed and stays
    in the figure (agents released weeks apart with similar horizons crowd one corner of a trend)."""
    renderer = FigureCanvasAgg(fig).get_renderer()  # (measures the text; the figure is still saved as SVG)
    frame = fig.bbox
    placed: list[Any] = []
    for when, value, name in sorted(points, key=lambda p: (p[0], p[1])):
        for dx, dy, ha, va in LABEL_SPOTS:
            label = ax.annotate(name, (when, value), textcoords="offset points", xytext=(dx, dy), fontsize=7,
                                ha=ha, va=va)  # fmt: skip
            box = label.get_window_extent(renderer).padded(3)  # (a browser draws the text a little larger)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            label.remove()
        else:  # nowhere free: the first spot, as before
            ax.annotate(name, (when, value), textcoords="offset points", xytext=(4, 4), fontsize=7)


def trend_plot(
    result: HorizonResult, dates: dict[str, object], trend: dict[str, object] | None
) -> str | None:
    table = result.table.set_index("agent")
    have = [a for a in table.index if a in dates and not pd.isna(table.at[a, "p50_minutes"])]
    if len(have) < 2:
        return None
    when = pd.to_datetime([dates[a] for a in have])
    p50 = table.loc[have, "p50_minutes"].to_numpy(dtype=float)
    low = table.loc[have, "p50_low"].to_numpy(dtype=float)
    high = table.loc[have, "p50_high"].to_numpy(dtype=float)
    fig = Figure(figsize=(7.5, 4.0))
    ax = fig.subplots()
    err = np.vstack([np.where(np.isnan(low), 0, p50 - low), np.where(np.isnan(high), 0, high - p50)])
    ax.errorbar(when, p50, yerr=err, fmt="o", color="#1d4ed8", ecolor="#93c5fd", capsize=3)
    title = "50% time horizon by release date"
    if trend is not None:
        days = np.array([(pd.Timestamp(d) - EPOCH).days for d in when])
        span = np.linspace(days.min(), days.max(), 50)
        slope, intercept = float(trend["slope"]), float(trend["intercept"])  # type: ignore[arg-type]
        line = 2 ** (intercept + slope * span)
        ax.plot(pd.to_datetime(span, unit="D"), line, color="#dc2626", linewidth=1, label="exponential trend")
        title += f": doubling every {float(trend['doubling_days']):.0f} days"  # type: ignore[arg-type]
        if not pd.isna(trend.get("doubling_low")) and not pd.isna(trend.get("doubling_high")):
            title += f" (95% CI {float(trend['doubling_low']):.0f} to {float(trend['doubling_high']):.0f})"  # type: ignore[arg-type]
    ax.set_yscale("log")
    ticks = [t for t in MINUTE_TICKS if np.nanmin(p50) / 3 <= t <= np.nanmax(p50) * 3] or MINUTE_TICKS
    ax.yaxis.set_major_locator(FixedLocator(ticks[:: max(1, -(-len(ticks) // 7))]))
    ax.yaxis.set_major_formatter(FuncFormatter(minutes_label))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_locator(AutoDateLocator(maxticks=7))
    ax.xaxis.set_major_formatter(DateFormatter("%Y-%m"))
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("50% horizon (log scale)")
    ax.grid(color="#e5e7eb")
    ax.spines[["top", "right"]].set_visible(False)
    _label_apart(fig, ax, list(zip(when, p50, have, strict=True)))
    return svg(fig)
