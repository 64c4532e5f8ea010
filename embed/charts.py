"""A small server-rendered SVG line chart: no script, no external assets, every text escaped."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Sequence

# Lightning Design System colours that keep 4.5:1 or better on white.
LINE = "#0176d3"
GRID = "#c9c9c9"
TEXT = "#444444"
# Past this many points the dots would blur into the line.
MAX_DOTS = 40


def _x(text: str) -> str:
    return escape(str(text), quote=True)


def line_chart_svg(points: Sequence[tuple[datetime, float]], *, title: str, desc: str,
                   chart_id: str = "chart", width: int = 360, height: int = 180,
                   label_time: Callable[[datetime], str] | None = None) -> str:
    """An accessible SVG of fractions (0..1) over time, as a standalone-valid XML string.

    ``label_time`` writes a point's moment for its tooltip (the viewer's zone); naive UTC when None.
    """
    left, right, top, bottom = 40, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" class="chart" role="img" id="{_x(chart_id)}" '
        f'aria-labelledby="{_x(title_id)}" aria-describedby="{_x(desc_id)}" font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="{_x(title_id)}">{_x(title)}</title>',
        f'<desc id="{_x(desc_id)}">{_x(desc)}</desc>',
    ]
    for tick in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - tick / 100)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT}">{tick}%</text>')

    if not points:
        parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
                     f'fill="{TEXT}">No score history yet</text>')
        parts.append("</svg>")
        return "".join(parts)

    ordered = sorted(points, key=lambda p: p[0])
    first, last = ordered[0][0], ordered[-1][0]
    span = (last - first).total_seconds()

    def place(when: datetime, value: float) -> tuple[float, float]:
        share = (when - first).total_seconds() / span if span else 0.5
        clamped = min(max(float(value), 0.0), 1.0)
        return left + plot_w * share, top + plot_h * (1 - clamped)

    coords = [place(when, value) for when, value in ordered]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="2.5" '
                     f'stroke-linejoin="round" stroke-linecap="round"/>')
    if len(coords) <= MAX_DOTS:
        for (when, value), (x, y) in zip(ordered, coords):
            moment = label_time(when) if label_time else f"{when:%Y-%m-%d %H:%M} UTC"
            label = f"{moment}: {float(value):.0%}"
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{LINE}" stroke="#ffffff" '
                         f'stroke-width="1.5"><title>{_x(label)}</title></circle>')
    base = height - 8
    parts.append(f'<text x="{left}" y="{base}" text-anchor="start" fill="{TEXT}">{_x(f"{first:%b %d, %Y}")}</text>')
    if span:
        parts.append(f'<text x="{width - right}" y="{base}" text-anchor="end" fill="{TEXT}">'
                     f'{_x(f"{last:%b %d, %Y}")}</text>')
    parts.append("</svg>")
    return "".join(parts)
