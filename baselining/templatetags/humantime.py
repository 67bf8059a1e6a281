"""{{ value|minutes }}: a duration in minutes as people read it ("45 s", "12.5 min", "2.8 h"), "—" if none."""

from __future__ import annotations

import math
from typing import Any

from django import template

register = template.Library()


@register.filter
def minutes(value: Any) -> str:
    try:
        m = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(m):
        return "—"
    if m < 1:
        return f"{m * 60:.0f} s"
    if m < 60:
        return f"{m:.1f} min"
    return f"{m / 60:.1f} h"


@register.filter
def number(value: Any, digits: int = 2) -> str:
    """A float with `digits` decimals, "—" for a missing one (NaN or None)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(x) else f"{x:.{digits}f}"
