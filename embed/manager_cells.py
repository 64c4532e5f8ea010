"""How the team panel shows a table cell: amounts, rates, days, trends and moments, by column."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import pass_context

from sync.local_time import UTC, format_local

MONEY = {"amount", "open_amount", "open_in_period", "won_amount", "avg_won", "quota", "expected", "p10",
         "p50", "p90", "remaining", "commit", "best_case"}
PERCENT = {"win_rate", "conversion", "attainment_p50", "lead_to_converted", "converted_to_opportunity",
           "opportunity_to_won", "lead_to_won", "gap"}
DAYS = {"avg_days", "idle_days", "days_in_stage", "stage_p75_days", "days_to_convert", "days_to_opportunity",
        "days_to_win"}
BY_UNIT = {"value", "previous", "trend", "median", "top"}
MONEY_TABLES = {"owners", "history"}  # where "won" is revenue rather than a count of deals


def money(value) -> str:
    """An amount as the panel shows it: whole units with thousands separators."""
    return f"{value:,.0f}"


def cell(row: dict, key: str, table: str = "", tz: ZoneInfo = UTC) -> str:
    """A table cell as the panel shows it (a moment in the viewer's zone ``tz``)."""
    value = row.get(key)
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return format_local(value, tz)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in BY_UNIT and "unit" in row:
        unit = row["unit"]
        sign = "+" if key == "trend" and value > 0 else ""
        if unit == "percent":
            return f"{sign}{value * 100:.0f}" + (" pts" if key == "trend" else "%")
        if unit == "days":
            return f"{sign}{value:.0f} days"
        return f"{sign}{value:,.0f}"
    if key == "percentile":
        return f"{value:.0f}"
    if key in MONEY or (key == "won" and table in MONEY_TABLES):
        return money(value)
    if key in PERCENT:
        return f"{value:.0%}"
    if key in DAYS:
        return f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@pass_context
def cell_in_viewer_zone(context, row: dict, key: str, table: str = "") -> str:
    """``cell`` in the zone of the viewer the template is rendered for (its ``viewer_tz``)."""
    return cell(row, key, table, context.get("viewer_tz") or UTC)
