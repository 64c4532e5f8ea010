"""Bands sort the open records against each other, so a rep's list always has a top tier to work first.

A record's rank is the share of open records scoring above it, ties counting half: A below 20%
(the top fifth), B below 50%, C below 80%, D the rest. Records with the same probability share a
band; when the model cannot tell any open records apart they are all C. The thresholds are
fixed when a version is trained (from the open records then) and kept on its card, so a record
rescored alone lands in the band its probability earns against the others.
"""
from __future__ import annotations

import numpy as np

RANKS = (("A", 0.2), ("B", 0.5), ("C", 0.8))
# No open record is ever shown as certain either way.
FLOOR, CEILING = 0.01, 0.99


def shown(probability):
    """The probability as scored and shown: never 0% or 100%."""
    return np.clip(probability, FLOOR, CEILING)


def band_cuts(probabilities) -> dict[str, float | None]:
    """The lowest probability that still reaches each of A, B and C among these open records."""
    p = np.round(np.asarray(probabilities, dtype=float), 6)
    if len(p) == 0:
        return {name: None for name, _ in RANKS}
    values, counts = np.unique(p, return_counts=True)
    above = len(p) - np.cumsum(counts)  # records strictly above each value
    rank = (above + 0.5 * counts) / len(p)
    return {name: (float(values[rank < share].min()) if (rank < share).any() else None) for name, share in RANKS}


def band_of(probability: float, cuts: dict[str, float | None]) -> str:
    """A–D for a probability against the thresholds of band_cuts."""
    p = round(float(probability), 6)
    for name, _ in RANKS:
        cut = cuts.get(name)
        if cut is not None and p >= cut:
            return name
    return "D"


def band_shares(bands) -> dict[str, float]:
    """Share of records in each band (A–D), rounded for a report."""
    bands = list(bands)
    return {name: round(sum(b == name for b in bands) / len(bands), 4) if bands else 0.0 for name in "ABCD"}
