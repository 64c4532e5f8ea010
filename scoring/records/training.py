"""The one training path, for the store and for a CSV: split, guard, fit, measure, and decide.

1. Split: the latest ``HOLDOUT_SHARE`` of the (mature) records by creation are held out, the
   model is fitted on the earlier ones; or the split the caller gives (the CSV evaluator's).
2. Guard: the leakage guard runs on the fitting part only (scoring.records.leakage).
3. Fit: model selection and Platt calibration on the columns that stay (scoring.records.models).
4. Measure on the held-out records: the candidate, the fallback (rules, the stage-and-age rate)
   and the base rate known at training time.
5. Decide: the candidate earns the right to score only when the held-out records hold at least
   ``MIN_HOLDOUT_OUTCOMES`` of each outcome, its Brier skill score over the base rate is above 0
   and its Brier score is below the fallback's. Otherwise the fallback scores, and the verdict
   says why in a sentence the model card and the panel show.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.records.leakage import LeakReport, guard
from scoring.records.metrics import held_out_metrics
from scoring.records.models import FittedModel, select_and_fit

HOLDOUT_SHARE = 0.2
MIN_HOLDOUT_OUTCOMES = 30


@dataclass
class Judged:
    """A candidate fitted on the earlier records, measured on the later ones, and the decision."""

    candidate: FittedModel | None
    report: LeakReport
    kinds: dict[str, str]
    metrics: dict | None
    fallback_metrics: dict | None
    earns: bool
    verdict: str
    fit: np.ndarray
    held: np.ndarray
    notes: dict[str, str] = field(default_factory=dict)
    panel_note: str = ""


def time_holdout(order: np.ndarray, share: float = HOLDOUT_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """Earlier records for fitting, the latest ``share`` held out (by order; ties keep their order)."""
    ranked = np.argsort(np.nan_to_num(np.asarray(order, dtype=float), nan=-np.inf), kind="stable")
    cut = int(round(len(ranked) * (1 - share)))
    return np.sort(ranked[:cut]), np.sort(ranked[cut:])


def _verdict(metrics: dict | None, fallback_metrics: dict | None, held_y: np.ndarray, names: tuple[str, str],
             where: str, fallback_name: str) -> tuple[bool, str]:
    """Whether the candidate earns the right to score, and the sentence saying why (or why not)."""
    counts = np.bincount(held_y.astype(int), minlength=2)
    if counts.min() < MIN_HOLDOUT_OUTCOMES:
        return False, (f"Scores come from {fallback_name}: {where} hold {counts[1]} {names[1]} and {counts[0]} "
                       f"{names[0]}; at least {MIN_HOLDOUT_OUTCOMES} of each are needed to tell a trained model "
                       "from the base rate.")
    skill, brier, prior = metrics["brier_skill"], metrics["brier"], metrics["prior_brier"]
    if skill is None or skill <= 0:
        return False, (f"Scores come from {fallback_name}: on {where}, the trained model does not beat the base "
                       f"rate (Brier score {brier:.4f} against {prior:.4f}, skill {skill or 0:+.1%}).")
    if fallback_metrics is not None and brier >= fallback_metrics["brier"]:
        return False, (f"Scores come from {fallback_name}: on {where}, the trained model beats the base rate "
                       f"(skill {skill:+.1%}) but not {fallback_name} (Brier score {brier:.4f} against "
                       f"{fallback_metrics['brier']:.4f}).")
    against = (f" and {fallback_name}'s {fallback_metrics['brier']:.4f}" if fallback_metrics is not None else "")
    return True, (f"Scores come from this model: on {where}, its Brier score {brier:.4f} beats the base rate's "
                  f"{prior:.4f} (skill {skill:+.1%}){against}.")


def judge(frame: pd.DataFrame, y: np.ndarray, kinds: dict[str, str], names: tuple[str, str], *,
          order: np.ndarray | None = None, split: tuple[np.ndarray, np.ndarray] | None = None,
          fallback=None, fallback_name: str = "the base rate", open_frame: pd.DataFrame | None = None,
          evidence: dict[str, str] | None = None, keep=(), kept_by: str = "--keep", foreign: bool = False,
          exposure: tuple[str, ...] = (), plural: str = "records", time_aware: bool = True,
          weights: np.ndarray | None = None, held_words: str | None = None, sources=None) -> Judged:
    """Steps 1 to 5 of the module docstring; ``fallback(frame, y, weights)`` fits the fallback on the fitting part.

    ``weights`` are the records' own weights: the open time each labelled record stands for, so
    that model and figures describe open records as they are when scored. ``held_words`` names
    the held-out records in the verdict (default: the most recent matured ones). ``sources`` names
    each record's source (connection) for the leakage guard when they are several.
    """
    y = np.asarray(y, dtype=int)
    weights = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    fit, held = split if split is not None else time_holdout(order)
    report = guard(frame.iloc[fit], y[fit], kinds, names, open_frame=open_frame, evidence=evidence, keep=keep,
                   kept_by=kept_by, foreign=foreign, plural=plural, exposure=exposure,
                   sources=None if sources is None else np.asarray(sources, dtype=object)[fit])
    ignored = {c: f"not used: {k} column" for c, k in kinds.items()
               if k in ("identifier", "empty") and c not in report.excluded}
    used = {c: k for c, k in kinds.items() if c not in report.excluded and c not in ignored}
    if not used or len(np.unique(y[fit])) < 2:
        return Judged(None, report, used, None, None, False,
                      f"Scores come from {fallback_name}: nothing is left to learn from.", fit, held, ignored)
    fit_order = np.asarray(order, dtype=float)[fit] if (order is not None and time_aware) else None
    candidate = select_and_fit(frame.iloc[fit], y[fit], used, order=fit_order, weights=weights[fit])
    prior = float(np.average(y[fit], weights=weights[fit]))
    metrics = held_out_metrics(y[held], candidate.predict_proba(frame.iloc[held]), prior=prior,
                               weights=weights[held])
    fallback_metrics = None
    if fallback is not None:
        rules = fallback(frame.iloc[fit], y[fit], weights[fit])
        fallback_metrics = held_out_metrics(y[held], rules.predict_proba(frame.iloc[held]), prior=prior,
                                            weights=weights[held])
    where = (held_words or "the {n} most recent matured {plural}").format(n=len(held), plural=plural)
    earns, verdict = _verdict(metrics, fallback_metrics, y[held], names, where, fallback_name)
    return Judged(candidate, report, used, metrics, fallback_metrics, earns, verdict, fit, held, ignored,
                  panel_note(verdict, plural, fallback_name))


def panel_note(verdict: str, plural: str, fallback_name: str) -> str:
    """The verdict as a rep reads it in the panel, when the fallback scores."""
    if verdict.startswith("Scores come from this model"):
        return ""
    if "are needed to tell" in verdict:
        why = f"there are too few recent outcomes to test a trained model on {plural}"
    elif "does not beat the base rate" in verdict:
        why = f"its trained model does not yet predict recent {plural} better than their average rate"
    else:
        why = f"its trained model is no better than {fallback_name} on recent {plural}"
    return f"This score comes from {fallback_name}: {why}. See the model card for the figures."
