"""The frustration curve as an inline SVG drawn on the server (no JavaScript).

Background bands show where the levels start; the line is the call-level score
over call time, each point coloured by its level with a tooltip of its reasons.
"""

from __future__ import annotations

from html import escape
from typing import Any

from voice.events import LEVELS, Level
from voice.frustration import Tuning

LEVEL_COLOURS: dict[Level, str] = {
    "calm": "#2e7d32",
    "tense": "#d99a00",
    "upset": "#e8590c",
    "escalating": "#c62828",
}
BAND_COLOURS = ("#eef7ef", "#fdf5dc", "#fdebdf", "#fbe3e3")


def clock(seconds: float) -> str:
    """Call time as m:ss."""
    whole = max(0, int(round(seconds)))
    return f"{whole // 60}:{whole % 60:02d}"


def frustration_svg(points: list[dict[str, Any]], width: int = 720, height: int = 220) -> str:
    """An ``<svg>`` of the curve; ``points`` are ``{"t", "score", "level", "reasons"}``."""
    left, right, top, bottom = 44, 96, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    t_max = float(max([p["t"] for p in points] + [1.0]))

    def x(t: float) -> float:
        return left + plot_w * t / t_max

    def y(score: float) -> float:
        return top + plot_h * (1 - max(0.0, min(1.0, score)))

    parts = [
        f'<svg class="curve" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Frustration over the call" xmlns="http://www.w3.org/2000/svg">'
    ]
    edges = (0.0, *Tuning().enter, 1.0)
    for i, name in enumerate(LEVELS):
        y0, y1 = y(edges[i + 1]), y(edges[i])
        parts.append(
            f'<rect x="{left}" y="{y0:.1f}" width="{plot_w}" height="{y1 - y0:.1f}" '
            f'fill="{BAND_COLOURS[i]}"/>'
            f'<text x="{left + plot_w + 6}" y="{(y0 + y1) / 2 + 4:.1f}" font-size="12" '
            f'fill="{LEVEL_COLOURS[name]}">{name.capitalize()}</text>'
        )
    parts.append(
        f'<text x="{left}" y="{height - 8}" font-size="12" fill="#5a6575">0:00</text>'
        f'<text x="{left + plot_w}" y="{height - 8}" font-size="12" fill="#5a6575" '
        f'text-anchor="end">{clock(t_max)}</text>'
        f'<text x="{left - 6}" y="{top + 10}" font-size="11" fill="#5a6575" '
        f'text-anchor="end">1.0</text>'
        f'<text x="{left - 6}" y="{top + plot_h}" font-size="11" fill="#5a6575" '
        f'text-anchor="end">0</text>'
    )
    if points:
        line = " ".join(f"{x(p['t']):.1f},{y(p['score']):.1f}" for p in points)
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="#1f3a5f" stroke-width="2.5" '
            f'stroke-linejoin="round"/>'
        )
        for p in points:
            tip = f"{clock(p['t'])} {p['level']} ({p['score']:.2f})"
            if p.get("reasons"):
                tip += ": " + "; ".join(p["reasons"])
            colour = LEVEL_COLOURS.get(p["level"], "#1f3a5f")
            parts.append(
                f'<circle cx="{x(p["t"]):.1f}" cy="{y(p["score"]):.1f}" r="4.5" '
                f'fill="{colour}"><title>{escape(tip)}</title></circle>'
            )
    else:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
            f'font-size="14" fill="#5a6575">No frustration readings for this call</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
