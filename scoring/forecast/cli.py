"""The `forecast` command group (registered by the web app as `flask forecast`).

`forecast --as-of DATE --period 2017-Q4` prints a forecast; `forecast backtest --from DATE --to
DATE` scores it against baselines; `forecast accuracy` reports stored snapshots against actuals.
With --json the last line of the output is one JSON object.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.deals_as_of import parse_period
from scoring.forecast.backtest import LABELS, METHODS, backtest
from scoring.forecast.revenue import Forecast, WhatIf, forecast
from scoring.forecast.snapshots import accuracy, save_snapshots
from sync.store import Organization, utcnow


class DateType(click.ParamType):
    name = "DATE"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2017-10-01.", param, ctx)


DATE = DateType()


@contextmanager
def session_scope(ctx: click.Context):
    """A session from the factory the caller put in ctx.obj, else from the installed runtime."""
    factory = (ctx.obj or {}).get("sessions") if isinstance(ctx.obj, dict) else None
    if factory is None:
        from sync import runtime
        factory = runtime.current().sessions
    with factory() as session:
        yield session


def organization_id(session: Session, given: int | None) -> int:
    """The organization asked for, or the only one in the store."""
    ids = list(session.scalars(select(Organization.id).order_by(Organization.id)))
    if given is not None:
        if given not in ids:
            raise click.ClickException(f"There is no organization {given}; known ids: "
                                       f"{', '.join(map(str, ids)) or 'none'}.")
        return given
    if len(ids) != 1:
        raise click.ClickException(
            "The store holds no organization yet; connect a CRM first." if not ids else
            f"The store holds {len(ids)} organizations; choose one with --organization ID.")
    return ids[0]


@click.group("forecast", invoke_without_command=True)
@click.option("--as-of", "as_of", type=DATE, help="Forecast with what was known at 00:00 UTC that day.")
@click.option("--period", help="A month (2017-10) or a quarter (2017-Q4).")
@click.option("--by", type=click.Choice(["org", "team", "rep"]), default="org", show_default=True)
@click.option("--organization", "organization", type=int, help="Organization id (default: the only one).")
@click.option("--win-rate", type=float, default=1.0, help="What-if: multiply win chances by this.")
@click.option("--slip-days", type=int, default=0, help="What-if: open deals cannot close for this many days.")
@click.option("--new-pipeline", type=float, default=0.0, help="What-if: extra new pipeline amount.")
@click.option("--save", is_flag=True, help="Store the forecast as snapshots for accuracy tracking.")
@click.option("--json", "as_json", is_flag=True, help="End the output with one JSON object.")
@click.pass_context
def forecast_group(ctx, as_of, period, by, organization, win_rate, slip_days, new_pipeline, save, as_json):
    """Forecast won revenue for a period, or run a subcommand."""
    if ctx.invoked_subcommand is not None:
        return
    if as_of is None or period is None:
        raise click.UsageError("Give both --as-of DATE and --period (2017-10 or 2017-Q4), "
                               "or run a subcommand such as `backtest`.")
    try:
        target = parse_period(period)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--period") from error
    if win_rate <= 0 or slip_days < 0 or new_pipeline < 0:
        raise click.UsageError("--win-rate must be above 0, --slip-days and --new-pipeline not negative.")
    with session_scope(ctx) as session:
        org = organization_id(session, organization)
        result = forecast(session, org, as_of, target, by=by,
                          what_if=WhatIf(win_rate, slip_days, new_pipeline))
        if save:
            save_snapshots(session, result)
            session.commit()
    _print_forecast(result)
    if as_json:
        click.echo(json.dumps(result.to_dict()))


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _print_forecast(result: Forecast) -> None:
    total = result.total
    click.echo(f"Forecast of won revenue for {result.period}, as of {result.as_of.isoformat()}")
    click.echo(f"  expected {_money(total.expected)}   P10 {_money(total.p10)}   "
               f"P50 {_money(total.p50)}   P90 {_money(total.p90)}")
    click.echo(f"  already won {_money(total.won_to_date)} · open deals ({total.open_deals}) "
               f"{_money(total.open_expected)} · not yet created {_money(total.new_expected)}")
    scenarios = result.scenarios
    click.echo(f"  scenarios: pessimistic (P10) {_money(scenarios['pessimistic'])} · realistic (P50) "
               f"{_money(scenarios['realistic'])} · optimistic (P90) {_money(scenarios['optimistic'])}")
    if result.adjusted is not None:
        adjusted = result.adjusted.total
        click.echo(f"  {result.what_if.label}: expected {_money(adjusted.expected)} "
                   f"({adjusted.expected - total.expected:+,.0f} against the base), "
                   f"P10 {_money(adjusted.p10)} P50 {_money(adjusted.p50)} P90 {_money(adjusted.p90)}")
    for group in result.groups:
        click.echo(f"  {group.name:<24} expected {_money(group.expected):>12}   "
                   f"P10 {_money(group.p10):>12}   P50 {_money(group.p50):>12}   P90 {_money(group.p90):>12}")


@forecast_group.command("backtest")
@click.option("--from", "first", type=DATE, required=True, help="First origin month (its start day).")
@click.option("--to", "last", type=DATE, required=True, help="Last day an origin month may start.")
@click.option("--organization", "organization", type=int, help="Organization id (default: the only one).")
@click.option("--json", "as_json", is_flag=True, help="End the output with one JSON object.")
@click.pass_context
def backtest_command(ctx, first, last, organization, as_json):
    """Backtest monthly forecasts made at the start of each month against three baselines."""
    if last < first:
        raise click.UsageError("--to comes before --from; give the range in order.")
    with session_scope(ctx) as session:
        report = backtest(session, organization_id(session, organization), first, last)
    click.echo(f"Backtest of monthly forecasts made on the 1st, {first.isoformat()} to {last.isoformat()}")
    click.echo("  Each month's capacity weight and P10–P90 range were fixed from the months that had ended by its "
               "first day: nothing here was tuned on the month it reports.")
    header = ("  month     actual       " + "  ".join(f"{name:>14}" for name in METHODS)
              + "             P10 to P90  inside  weight")
    click.echo(header)
    for origin in report.origins:
        cells = "  ".join(f"{_money(origin.forecasts[name]):>14}" for name in METHODS)
        inside = "yes" if origin.p10 <= origin.actual <= origin.p90 else "no"
        click.echo(f"  {origin.period}  {_money(origin.actual):>12} {cells}  {_money(origin.p10):>10} to "
                   f"{_money(origin.p90):>10}  {inside:>6}  {origin.capacity_weight:>6g}")
    for name in METHODS:
        click.echo(f"  WAPE {LABELS[name]:<36} {report.wape(name):.1%}")
    click.echo(f"  seasonal naive uses the {report.seasonal_rule}")
    click.echo(report.coverage_sentence())
    click.echo(report.verdict())
    if as_json:
        click.echo(json.dumps(report.to_dict()))


@forecast_group.command("accuracy")
@click.option("--period", help="Only this period (default: every period with snapshots).")
@click.option("--organization", "organization", type=int, help="Organization id (default: the only one).")
@click.option("--today", type=DATE, help="Treat periods ending by this day as complete (default: today).")
@click.option("--json", "as_json", is_flag=True, help="End the output with one JSON object.")
@click.pass_context
def accuracy_command(ctx, period, organization, today, as_json):
    """Compare stored forecast snapshots with the won revenue of periods that have ended."""
    with session_scope(ctx) as session:
        results = accuracy(session, organization_id(session, organization), today, period)
    if not results:
        click.echo("No snapshot of an ended period yet: save forecasts with --save, and come back "
                   "once their period is over.")
    for item in results:
        mape = "n/a" if item.mape is None else f"{item.mape:.1%}"
        click.echo(f"  {item.period} {item.scope:<5} snapshots {item.snapshots:>3}  MAE {_money(item.mae)}  "
                   f"MAPE {mape}  bias {item.bias:+,.0f}  inside P10–P90 {item.inside_p10_p90:.0%}")
    if as_json:
        click.echo(json.dumps({"accuracy": [item.to_dict() for item in results],
                               "generated_at": utcnow().isoformat(timespec="seconds")}))
