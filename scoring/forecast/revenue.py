"""Expected won revenue per period for the organization, its teams and reps, with P10/P50/P90.

Three parts add up: revenue already won inside the period before the as-of date, open deals
(each won inside the period with the timing model's probability), and deals not yet created
(the revenue that deals opened and won inside the same window a quarter earlier brought).
The open deals' expected number of wins is pulled halfway (geometrically) towards the number
the team won from its open pipeline in that earlier window: the timing model decides which
deals win, and so the revenue mix, while the team's closing capacity anchors how many.
A Monte Carlo with a fixed seed turns the parts into a range.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np
from sqlalchemy.orm import Session

from scoring.deals_as_of import DealsAsOf, Owner, Period, load_deals, owners, parse_period
from scoring.forecast.runrate import CAPACITY_WEIGHT, capacity_factor, run_rate
from scoring.forecast.simulation import quantiles, simulate
from scoring.forecast.timing import DealHistory, TimingModel, fit_timing

MODEL_VERSION = "forecast-hazard-1"
SIMULATIONS = 4000
SEED = 20171001
GROUPINGS = ("org", "team", "rep")


@dataclass(frozen=True)
class WhatIf:
    """Adjustments to the base forecast: win hazards × win_rate, open deals slip, extra pipeline."""

    win_rate: float = 1.0
    slip_days: int = 0
    new_pipeline: float = 0.0

    @property
    def is_base(self) -> bool:
        return self.win_rate == 1.0 and self.slip_days == 0 and self.new_pipeline == 0.0

    @property
    def label(self) -> str:
        if self.is_base:
            return "base"
        return (f"what-if win_rate={self.win_rate:g} slip_days={self.slip_days} "
                f"new_pipeline={self.new_pipeline:g}")


@dataclass
class Figures:
    """The forecast of one scope: the organization, a team or a rep."""

    key: str
    name: str
    expected: float
    p10: float
    p50: float
    p90: float
    won_to_date: float = 0.0
    open_expected: float = 0.0
    new_expected: float = 0.0
    open_deals: int = 0


@dataclass
class Forecast:
    """A period's forecast as of a date, for the organization and optionally its groups."""

    organization_id: int
    period: str
    as_of: date
    by: str
    total: Figures
    groups: list[Figures] = field(default_factory=list)
    what_if: WhatIf = field(default_factory=WhatIf)
    adjusted: "Forecast | None" = None
    model: dict = field(default_factory=dict)

    @property
    def scenarios(self) -> dict[str, float]:
        """Pessimistic = P10 (nine in ten outcomes reach it), realistic = P50, optimistic = P90."""
        return {"pessimistic": self.total.p10, "realistic": self.total.p50,
                "optimistic": self.total.p90}

    def to_dict(self) -> dict:
        """The JSON shape of the CLI and API."""
        data = {"organization_id": self.organization_id, "period": self.period,
                "as_of": self.as_of.isoformat(), "by": self.by, "scenario": self.what_if.label,
                **{name: round(value, 2) for name, value in asdict(self.total).items()
                   if isinstance(value, float)},
                "open_deals": self.total.open_deals, "scenarios": {
                    name: round(value, 2) for name, value in self.scenarios.items()},
                "model": self.model}
        if self.by != "org":
            data["groups"] = [{key: round(value, 2) if isinstance(value, float) else value
                               for key, value in asdict(group).items()} for group in self.groups]
        if self.adjusted is not None:
            data["what_if"] = {**asdict(self.what_if), **self.adjusted.to_dict()}
            data["what_if"].pop("model", None)
        return data


def forecast(session: Session, organization_id: int, as_of: date, period: Period | str,
             by: str = "org", what_if: WhatIf | None = None, simulations: int = SIMULATIONS,
             seed: int = SEED, calibrated: bool = True) -> Forecast:
    """Forecast the period's won revenue as of a date; a what-if is shown beside the base.

    ``calibrated`` (the default) fixes the capacity weight and the ranges from the forecast's own
    errors on earlier windows that had ended by the as-of date (scoring.forecast.calibration).
    """
    from scoring.forecast.calibration import calibrate

    if by not in GROUPINGS:
        raise ValueError(f"Forecasts group by org, team or rep, not {by!r}.")
    period = parse_period(period) if isinstance(period, str) else period
    deals = load_deals(session, organization_id, as_of)
    people = owners(session, organization_id)
    model = fit_timing(history_of(deals), as_of.toordinal())
    calibration = calibrate(session, organization_id, deals, people, period, by) if calibrated else None
    base = forecast_from(deals, people, model, organization_id, period, by, WhatIf(),
                         simulations, seed, calibration)
    if what_if is not None and not what_if.is_base:
        base.what_if = what_if
        base.adjusted = forecast_from(deals, people, model, organization_id, period, by, what_if,
                                      simulations, seed, calibration)
    return base


def history_of(deals: DealsAsOf) -> DealHistory:
    """The timing model's view of the deals."""
    return DealHistory(created=deals.created, closed=deals.closed, won=deals.won,
                       stage_reached=deals.stage_reached)


def group_keys(deals: DealsAsOf, people: dict[str, Owner], by: str) -> tuple[list[str], list[str], np.ndarray]:
    """Group keys, display names and each deal's group index."""
    if by == "org":
        return ["org"], ["Organization"], np.zeros(len(deals.owners), dtype=int)
    labels = []
    for owner in deals.owners:
        person = people.get(owner)
        if by == "rep":
            labels.append((owner or "unassigned", person.name if person else owner or "Unassigned"))
        else:
            team = person.team if person else "No team"
            labels.append((team, team))
    # With no deal at all, one catch-all group still receives what-if pipeline.
    names = dict(labels) or ({"unassigned": "Unassigned"} if by == "rep" else {"No team": "No team"})
    keys = sorted(names)
    index = {key: i for i, key in enumerate(keys)}
    return keys, [names[key] for key in keys], np.array([index[key] for key, _ in labels], dtype=int)


@dataclass
class Parts:
    """What a period's won revenue is made of, per group: won so far, open deals, deals not yet created."""

    keys: list[str]
    names: list[str]
    deal_group: np.ndarray
    won_to_date: np.ndarray
    probabilities: np.ndarray
    amounts: np.ndarray
    open_group: np.ndarray
    new: object
    capacity_note: str

    @property
    def open_expected(self) -> np.ndarray:
        return np.bincount(self.open_group, weights=self.probabilities * self.amounts, minlength=len(self.keys))

    @property
    def expected(self) -> np.ndarray:
        """Expected won revenue per group."""
        return self.won_to_date + self.open_expected + self.new.expected

    @property
    def uncertain(self) -> np.ndarray:
        """Per group, the part of the expectation not yet won: what a range has to cover."""
        return self.open_expected + self.new.expected


def components(deals: DealsAsOf, people: dict[str, Owner], model: TimingModel, period: Period, by: str,
               what_if: WhatIf, weight: float = CAPACITY_WEIGHT) -> Parts:
    """The period's parts as of the deals' date, with open deals anchored to capacity by ``weight``."""
    today, start, end = deals.as_of.toordinal(), period.start.toordinal(), period.end.toordinal()
    keys, names, deal_group = group_keys(deals, people, by)
    groups = len(keys)
    won_now = deals.won & (deals.closed >= start) & (deals.closed < end)
    won_to_date = np.bincount(deal_group[won_now], weights=deals.amount[won_now], minlength=groups)
    is_open = deals.open & (today < end)
    probabilities, capacity_note = open_deal_chances(deals, model, period, what_if, is_open, weight)
    amounts = deals.amount[is_open]
    open_group = deal_group[is_open]
    new = run_rate(deals, model, period, deal_group, groups, what_if.win_rate)
    if what_if.new_pipeline > 0:
        extra_p, extra_amounts, extra_groups = _extra_pipeline(
            what_if, model, today, max(start, today), end, new.amounts, new.shares)
        probabilities = np.concatenate([probabilities, extra_p])
        amounts = np.concatenate([amounts, extra_amounts])
        open_group = np.concatenate([open_group, extra_groups])
    return Parts(keys, names, deal_group, won_to_date, probabilities, amounts, open_group, new, capacity_note)


def forecast_from(deals: DealsAsOf, people: dict[str, Owner], model: TimingModel,
                  organization_id: int, period: Period, by: str, what_if: WhatIf,
                  simulations: int = SIMULATIONS, seed: int = SEED, calibration=None) -> Forecast:
    """The forecast from already reconstructed deals and a fitted timing model.

    With a calibration (scoring.forecast.calibration) the capacity weight and the P10–P90 ranges
    come from the forecast's own past errors; without one, from the default weight and the
    Monte Carlo's spread, which knows nothing of how wrong the model itself can be.
    """
    weight = calibration.weight if calibration is not None else CAPACITY_WEIGHT
    parts = components(deals, people, model, period, by, what_if, weight)
    groups = len(parts.keys)
    samples = simulate(parts.probabilities, parts.amounts, parts.open_group, parts.new.counts, parts.new.amounts,
                       groups, simulations, seed) + parts.won_to_date
    expected, uncertain, open_expected = parts.expected, parts.uncertain, parts.open_expected
    open_counts = np.bincount(parts.deal_group[deals.open & (deals.as_of.toordinal() < period.end.toordinal())],
                              minlength=groups)

    def spread(g: int | None) -> tuple[float, float, float]:
        column = samples.sum(axis=1) if g is None else samples[:, g]
        won = parts.won_to_date.sum() if g is None else parts.won_to_date[g]
        if calibration is None:
            return quantiles(column)
        total = expected.sum() if g is None else expected[g]
        left = uncertain.sum() if g is None else uncertain[g]
        low, mid, high = calibration.range(float(total), float(left), float(won), quantiles(column), group=g is not None)
        return float(low), float(mid), float(high)

    figures = [Figures(parts.keys[g], parts.names[g], float(expected[g]), *spread(g),
                       won_to_date=float(parts.won_to_date[g]), open_expected=float(open_expected[g]),
                       new_expected=float(parts.new.expected[g]), open_deals=int(open_counts[g]))
               for g in range(groups)]
    total = Figures("org", "Organization", float(expected.sum()), *spread(None),
                    won_to_date=float(parts.won_to_date.sum()), open_expected=float(open_expected.sum()),
                    new_expected=float(parts.new.expected.sum()), open_deals=int(open_counts.sum()))
    info = {"version": MODEL_VERSION, "simulations": simulations, "seed": seed,
            "history_from": date.fromordinal(model.window[0]).isoformat(),
            "closed_deals_learned": model.events, "new_deals": parts.new.source,
            "capacity": parts.capacity_note,
            "ranges": calibration.to_dict() if calibration is not None else {
                "method": "simulation", "note": "Monte Carlo spread only: not calibrated on past errors"}}
    return Forecast(organization_id, period.label, deals.as_of, by, total,
                    figures if by != "org" else [], what_if, None, info)


def open_deal_chances(deals: DealsAsOf, model: TimingModel, period: Period, what_if: WhatIf,
                      is_open: np.ndarray, weight: float = CAPACITY_WEIGHT) -> tuple[np.ndarray, str]:
    """Each open deal's chance to be won inside the period, anchored to the team's capacity."""
    today = deals.as_of.toordinal()
    first, end = max(period.start.toordinal(), today), period.end.toordinal()
    created = deals.created[is_open]
    stages = np.array([model.multiplier(stage) for stage, flag in zip(deals.stages, is_open) if flag])
    chances = dict(multipliers=stages * model.vintage(created),
                   loss_multipliers=model.vintage(created, losses=True))
    base = model.win_within(today - created, today, first, end, **chances)
    # The anchor comes from the base forecast, so a what-if moves the forecast, not the anchor.
    capacity, note = capacity_factor(deals, period, float(base.sum()), weight)
    if what_if.win_rate != 1.0 or what_if.slip_days > 0:
        base = model.win_within(today - created, today, first, end, win_scale=what_if.win_rate,
                                delay=np.full(len(created), what_if.slip_days), **chances)
    return np.minimum(base * capacity, 1.0), note


def _extra_pipeline(what_if: WhatIf, model: TimingModel, today: int, first: int, end: int,
                    recent_amounts: np.ndarray, shares: np.ndarray):
    """The what-if's new pipeline as fresh deals of the typical won size, spread over groups."""
    size = float(np.median(recent_amounts)) if len(recent_amounts) else what_if.new_pipeline
    count = max(1, int(round(what_if.new_pipeline / max(size, 1.0))))
    chance = model.win_within(np.zeros(1), today, first, end, win_scale=what_if.win_rate)[0]
    groups = np.repeat(np.arange(len(shares)), np.round(shares * count).astype(int))[:count]
    groups = np.concatenate([groups, np.full(count - len(groups), int(np.argmax(shares)))])
    return (np.full(count, chance), np.full(count, what_if.new_pipeline / count),
            groups.astype(int))
