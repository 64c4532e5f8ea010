"""The leakage guard: find columns filled after the outcome, giving it away, or recording a judgement.

One guard for production training in the store and for the CSV evaluator. For every column it
runs, in order, and keeps the first finding (the one that explains most):

1. presence: filled or empty only for one class (scoring.records.leak_screens);
2. purity: category values naming the outcome, named in the reason;
3. after the fact: evidence the caller brings from the store's field history, or values and fill
   one class carries and open records never do (scoring.records.leak_timing);
4. screening: the column alone separates the classes implausibly well (single-column AUC);
5. judgement: named like a judgement or a record of what happened last, with a fill or values
   that track the outcome (only for columns Pipewise did not build itself).

A column the caller names in ``keep`` (an admin's or a user's word that it is known before the
outcome) stays in, and the report records the override beside what the guard found. Each
finding carries the AUC of a quick model with and without the column (scoring.records.leak_impact).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from scoring.records.leak_screens import (exposure_strata, numeric_values, presence_leak, purity_leak, screening_leak,
                                          single_auc)
from scoring.records.leak_timing import judgement_leak, open_record_leak

SKIPPED_KINDS = ("empty",)
# A column whose rank correlation with an exposure column is at least this restates it.
FOLLOWS_EXPOSURE = 0.9


@dataclass
class Finding:
    """One column the guard would leave out, why, and what it is worth to a model."""

    column: str
    test: str  # presence | purity | after_the_fact | screening | judgement
    reason: str
    auc_alone: float | None = None
    auc_with: float | None = None
    auc_without: float | None = None
    kept: bool = False
    kept_by: str | None = None

    def sentence(self) -> str:
        """The reason with its figures, as the report and the card print it."""
        figures = ""
        if self.auc_with is not None and self.auc_without is not None:
            figures = f" [AUC with it {self.auc_with:.3f}, without it {self.auc_without:.3f}]"
        return f"{self.reason}{figures}"


@dataclass
class LeakReport:
    """What the guard found, what it only noted, and what was kept on someone's word."""

    findings: list[Finding] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def excluded(self) -> dict[str, str]:
        """Column → reason, for the columns left out."""
        return {f.column: f.sentence() for f in self.findings if not f.kept}

    @property
    def overrides(self) -> list[Finding]:
        return [f for f in self.findings if f.kept]

    def to_dict(self) -> dict:
        return {"findings": [asdict(f) for f in self.findings], "notes": dict(self.notes)}


def _finding(column: str, series: pd.Series, kind: str, y: np.ndarray, names: tuple[str, str],
             open_series, evidence: dict[str, str], foreign: bool, plural: str, notes: dict,
             strata: np.ndarray | None) -> Finding | None:
    """The first test the column fails, or None."""
    alone = single_auc(series, kind, y, strata)
    tests = (
        ("presence", lambda: presence_leak(series, y, names)),
        ("purity", lambda: purity_leak(series, y, names) if kind in ("categorical", "high_cardinality") else None),
        ("after_the_fact", lambda: evidence.get(column)),
        ("after_the_fact", lambda: open_record_leak(series, kind, y, open_series, names, plural)),
        ("screening", lambda: screening_leak(series, kind, y, names, alone)),
    )
    for test, run in tests:
        reason = run()
        if reason:
            return Finding(column, test, reason, auc_alone=round(alone[0], 4))
    if foreign:
        reason, note = judgement_leak(column, series, y, names, alone[0])
        if reason:
            return Finding(column, "judgement", reason, auc_alone=round(alone[0], 4))
        if note:
            notes[column] = note
    return None


def _follows_exposure(frame: pd.DataFrame, column: str, kind: str, exposed: list[str]) -> tuple[str, float] | None:
    """(exposure column, rank correlation) when a numeric column nearly restates an exposure column."""
    if kind not in ("numeric", "date") or column in exposed or not exposed:
        return None
    values = numeric_values(frame[column], kind)
    if values.nunique() < 2:
        return None
    for other in exposed:
        against = numeric_values(frame[other], "numeric")
        if against.nunique() < 2:
            continue
        rho = values.corr(against, method="spearman")
        if rho == rho and abs(rho) >= FOLLOWS_EXPOSURE:
            return other, abs(float(rho))
    return None


def guard(frame: pd.DataFrame, y, kinds: dict[str, str], names: tuple[str, str] = ("negative", "positive"), *,
          open_frame: pd.DataFrame | None = None, evidence: dict[str, str] | None = None,
          keep: tuple[str, ...] | list[str] | dict[str, str] = (), kept_by: str = "--keep", foreign: bool = False,
          plural: str = "records", exposure: tuple[str, ...] = (), measure: bool = True,
          sources=None) -> LeakReport:
    """Check every column of the frame against the outcome y; see the module docstring.

    ``open_frame`` holds records whose outcome is not known yet (compared with), ``evidence``
    column → reason from the store's field history, ``foreign`` says the column names were chosen
    by someone else (a CSV) so a name may hint at a judgement field. ``exposure`` names columns
    measuring how long a record has had to reach its outcome: they separate the classes by design
    (a record seen early in its life has more of it ahead), so they are only checked for
    presence, and the other columns are judged among records of similar exposure. ``sources``
    names each row's source (one per connection) when the frame mixes several: a column that
    leaks in one source's records is left out of all, because its leak is diluted in the mix
    (a CRM that zeroes lost deals' amounts, beside one that does not).
    """
    from scoring.records.leak_impact import measure_impact

    y = np.asarray(y, dtype=int)
    evidence = dict(evidence or {})
    keep = dict(keep) if isinstance(keep, dict) else {column: kept_by for column in keep}
    report = LeakReport()
    exposed = [c for c in exposure if c in frame]
    strata = exposure_strata(frame[exposed[0]]) if exposed else None
    for column, kind in kinds.items():
        if kind in SKIPPED_KINDS or column not in frame:
            continue
        follows = _follows_exposure(frame, column, kind, exposed)
        if follows is not None:
            exposed.append(column)
            report.notes[column] = (f"moves with {follows[0]} (rank correlation {follows[1]:.2f}), so it is judged as "
                                    "exposure: only checked for presence")
        if column in exposed or kind == "identifier":  # only the presence test applies
            reason = presence_leak(frame[column], y, names)
            if reason:
                report.findings.append(Finding(column, "presence", reason))
            elif column in exposure:
                report.notes[column] = ("exposure: how long the record has had to reach its outcome; the model "
                                        "uses it to stay calibrated, reps never see it as a reason")
            continue
        open_series = open_frame[column] if open_frame is not None and column in open_frame else None
        found = _finding(column, frame[column], kind, y, names, open_series, evidence, foreign, plural,
                         report.notes, strata)
        if found is None:
            continue
        if column in keep:
            found.kept, found.kept_by = True, keep[column]
        report.findings.append(found)
    if sources is not None:
        _per_source(report, frame, y, kinds, names, sources, open_frame=open_frame, evidence=evidence, keep=keep,
                    foreign=foreign, plural=plural, exposure=exposure)
    for column, by in keep.items():
        if column not in {f.column for f in report.findings} and column in kinds:
            report.notes[column] = f"kept on request ({by}); the guard found nothing against it"
    if measure and report.findings:
        measure_impact(report, frame, y, kinds)
    return report


# A source is judged on its own only with enough outcomes of each class to judge anything.
MIN_SOURCE_OUTCOMES = 30


def _per_source(report: LeakReport, frame: pd.DataFrame, y: np.ndarray, kinds: dict[str, str],
                names: tuple[str, str], sources, *, keep: dict[str, str], **options) -> None:
    """Add what the guard finds within each source's own records to the report of the mixed frame."""
    sources = np.asarray(sources, dtype=object)
    labels = [label for label in dict.fromkeys(sources.tolist())]
    if len(labels) < 2:
        return
    for label in labels:
        rows = sources == label
        if np.bincount(y[rows], minlength=2).min() < MIN_SOURCE_OUTCOMES:
            continue
        found = {f.column for f in report.findings}
        within = guard(frame.iloc[np.flatnonzero(rows)], y[rows], kinds, names, measure=False, **options)
        for finding in within.findings:
            if finding.column in found:
                continue
            finding.reason = f"in {label}'s records: {finding.reason}"
            if finding.column in keep:
                finding.kept, finding.kept_by = True, keep[finding.column]
            report.findings.append(finding)
        for column, note in within.notes.items():
            report.notes.setdefault(column, f"in {label}'s records: {note}")


def find_leaks(frame: pd.DataFrame, y, kinds: dict[str, str],
               names: tuple[str, str] = ("negative", "positive")) -> dict[str, str]:
    """Column → reason for every column of the frame that leaks the outcome (value tests only, no figures)."""
    return {f.column: f.reason for f in guard(frame, y, kinds, names, measure=False).findings}
