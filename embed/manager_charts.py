"""Server-rendered SVG charts of the manager's panel: horizontal bars and forecast ranges, and which view shows which.

No script, no external assets, every text escaped; each chart has a title and a description,
and the page shows the same numbers as a table beside it.
"""
from __future__ import annotations

from html import escape
from typing import Callable, Sequence

from markupsafe import Markup

from embed.charts import GRID, LINE, TEXT
from embed.manager_cells import money

# Lightning colours with 3:1 or better against white for graphical objects (WCAG 1.4.11).
RANGE = "#5867e8"
TICK = "#032d60"
MARK = "#ba0517"
ROW_HEIGHT = 26
LABEL_WIDTH = 112


def _x(text: object) -> str:
    return escape(str(text), quote=True)


def _open(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" class="chart" role="img" id="{_x(chart_id)}" '
            f'aria-labelledby="{_x(chart_id)}-title" aria-describedby="{_x(chart_id)}-desc" '
            f'font-family="system-ui, sans-serif" font-size="11">',
            f'<title id="{_x(chart_id)}-title">{_x(title)}</title>',
            f'<desc id="{_x(chart_id)}-desc">{_x(desc)}</desc>']


def _label(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def bar_chart_svg(bars: Sequence[tuple[str, float]], *, title: str, chart_id: str,
                  fmt: Callable[[float], str], marker: tuple[str, float] | None = None,
                  width: int = 360) -> str:
    """Horizontal bars (label, value ≥ 0), each labelled with its formatted value; an optional marker."""
    height = max(1, len(bars)) * ROW_HEIGHT + 28
    plot_left, plot_right = LABEL_WIDTH, width - 70
    top = max([value for _, value in bars] + [marker[1] if marker else 0.0] + [0.0]) or 1.0
    desc = "; ".join(f"{label}: {fmt(value)}" for label, value in bars) or "No data."
    if marker:
        desc += f". {marker[0]}: {fmt(marker[1])}."
    parts = _open(chart_id, title, desc, width, height)
    if not bars:
        parts.append(f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" fill="{TEXT}">No data for this period</text>')
    for i, (label, value) in enumerate(bars):
        y = 8 + i * ROW_HEIGHT
        length = (plot_right - plot_left) * max(value, 0.0) / top
        parts.append(f'<text x="{plot_left - 6}" y="{y + 15}" text-anchor="end" fill="{TEXT}">{_x(_label(label))}</text>')
        parts.append(f'<rect x="{plot_left}" y="{y + 3}" width="{length:.1f}" height="{ROW_HEIGHT - 8}" '
                     f'fill="{LINE}"><title>{_x(f"{label}: {fmt(value)}")}</title></rect>')
        parts.append(f'<text x="{plot_left + length + 4:.1f}" y="{y + 15}" fill="{TEXT}">{_x(fmt(value))}</text>')
    parts.append(f'<line x1="{plot_left}" y1="4" x2="{plot_left}" y2="{height - 20}" stroke="{GRID}"/>')
    if marker:
        x = plot_left + (plot_right - plot_left) * marker[1] / top
        parts.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 20}" stroke="{MARK}" '
                     f'stroke-width="2" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" fill="{MARK}">'
                     f'{_x(marker[0])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def range_chart_svg(ranges: Sequence[dict], *, title: str, chart_id: str, fmt: Callable[[float], str],
                    width: int = 360) -> str:
    """P10–P90 bars with the P50 tick per row, and the quota as a diamond where one is set."""
    height = max(1, len(ranges)) * ROW_HEIGHT + 28
    plot_left, plot_right = LABEL_WIDTH, width - 16
    top = max([r["p90"] for r in ranges] + [r.get("quota") or 0.0 for r in ranges] + [0.0]) or 1.0

    def at(value: float) -> float:
        return plot_left + (plot_right - plot_left) * max(value, 0.0) / top

    desc = "; ".join(f"{r['name']}: P10 {fmt(r['p10'])}, P50 {fmt(r['p50'])}, P90 {fmt(r['p90'])}"
                     + (f", quota {fmt(r['quota'])}" if r.get("quota") else ", no quota set")
                     for r in ranges) or "No forecast yet."
    parts = _open(chart_id, title, desc, width, height)
    if not ranges:
        parts.append(f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" fill="{TEXT}">No forecast yet</text>')
    for i, r in enumerate(ranges):
        y = 8 + i * ROW_HEIGHT
        mid = y + ROW_HEIGHT / 2
        parts.append(f'<text x="{plot_left - 6}" y="{mid + 4:.1f}" text-anchor="end" fill="{TEXT}">'
                     f'{_x(_label(r["name"]))}</text>')
        parts.append(f'<rect x="{at(r["p10"]):.1f}" y="{mid - 6:.1f}" width="{max(at(r["p90"]) - at(r["p10"]), 2):.1f}" '
                     f'height="12" fill="{RANGE}"><title>{_x(r["name"])}: P10 {_x(fmt(r["p10"]))} to P90 '
                     f'{_x(fmt(r["p90"]))}</title></rect>')
        parts.append(f'<line x1="{at(r["p50"]):.1f}" y1="{mid - 9:.1f}" x2="{at(r["p50"]):.1f}" y2="{mid + 9:.1f}" '
                     f'stroke="{TICK}" stroke-width="3"/>')
        if r.get("quota"):
            q = at(r["quota"])
            parts.append(f'<path d="M{q:.1f} {mid - 7:.1f} L{q + 6:.1f} {mid:.1f} L{q:.1f} {mid + 7:.1f} '
                         f'L{q - 6:.1f} {mid:.1f} Z" fill="{MARK}"><title>Quota {_x(fmt(r["quota"]))}</title></path>')
    parts.append(f'<text x="{plot_left}" y="{height - 6}" fill="{TEXT}">0</text>')
    parts.append(f'<text x="{plot_right}" y="{height - 6}" text-anchor="end" fill="{TEXT}">{_x(fmt(top))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def view_charts(view: str, data: dict, subject) -> list[Markup]:
    """The view's SVG charts (each table below repeats its numbers)."""
    tables = {t.name: t for t in data.get("tables", [])}
    pct = lambda v: f"{v:.0%}"  # noqa: E731
    charts = []
    if view == "pipeline" and "stages" in tables:
        charts.append(bar_chart_svg([(r["stage"], r["amount"]) for r in tables["stages"].rows],
                                    title="Open pipeline by stage (amount)", chart_id="chart-stages", fmt=money))
    elif view == "forecast":
        ranges = [dict(r) for r in tables["forecast"].rows]
        if data["figures"].get("p50") is not None and subject.kind != "rep":
            ranges.insert(0, {"name": "Team", **data["figures"]})
        charts.append(range_chart_svg(ranges, title="Forecast range (P10 to P90, P50 tick, quota diamond)",
                                      chart_id="chart-forecast", fmt=money))
    elif view == "winloss":
        first = data["tables"][0]
        charts.append(bar_chart_svg([(r["value"], r["win_rate"] or 0.0) for r in first.rows[:12]],
                                    title="Win rate by product", chart_id="chart-winloss", fmt=pct,
                                    marker=("All", first.totals["win_rate"]) if first.totals.get("win_rate") else None))
    elif view == "funnel" and tables["funnel-source"].totals.get("leads"):
        # No leads, no chart: four zero bars would read as a broken funnel; the tables say "Nothing to show".
        total = tables["funnel-source"].totals
        charts.append(bar_chart_svg([(label, total[key]) for key, label in (
            ("leads", "Leads"), ("converted", "Converted"), ("opportunities", "Opportunities"), ("won", "Won"))],
            title="Lead funnel", chart_id="chart-funnel", fmt=lambda v: f"{v:,.0f}"))
    elif view == "benchmarks":
        rows = [r for r in tables["benchmarks"].rows if r["metric_key"] == "win_rate" and r["value"] is not None]
        median = data["marks"].get("win_rate", {}).get("median")
        charts.append(bar_chart_svg([(r["name"], r["value"]) for r in rows], title="Win rate by rep",
                                    chart_id="chart-benchmarks", fmt=pct,
                                    marker=("Team median", median) if median is not None else None))
    return [Markup(c) for c in charts]
