"""Monte Carlo of a period's won revenue: a Bernoulli per open deal plus compound Poisson new deals."""
from __future__ import annotations

import numpy as np

CHUNK = 500


def simulate(probabilities: np.ndarray, amounts: np.ndarray, deal_groups: np.ndarray,
             new_rates: np.ndarray, new_amounts: np.ndarray, groups: int, simulations: int,
             seed: int) -> np.ndarray:
    """Simulated won revenue per (simulation, group); the organization is the row sum.

    Each open deal is won with its own probability and brings its amount; each group also wins
    a Poisson number of deals not yet created (rate `new_rates[group]`) whose amounts are drawn
    from the recent won amounts.
    """
    rng = np.random.default_rng(seed)
    totals = np.zeros((simulations, groups))
    membership = np.zeros((len(probabilities), groups))
    membership[np.arange(len(probabilities)), deal_groups] = amounts
    for first in range(0, simulations, CHUNK):
        size = min(CHUNK, simulations - first)
        wins = rng.random((size, len(probabilities))) < probabilities
        totals[first:first + size] = wins @ membership
    if len(new_amounts) and new_rates.sum() > 0:
        counts = rng.poisson(new_rates, size=(simulations, groups))
        cells = np.repeat(np.arange(simulations * groups), counts.ravel())
        drawn = rng.choice(new_amounts, size=len(cells))
        totals += np.bincount(cells, weights=drawn, minlength=simulations * groups).reshape(
            simulations, groups)
    return totals


def quantiles(samples: np.ndarray) -> tuple[float, float, float]:
    """P10, P50 and P90 of simulated totals."""
    p10, p50, p90 = np.percentile(samples, [10, 50, 90])
    return float(p10), float(p50), float(p90)
