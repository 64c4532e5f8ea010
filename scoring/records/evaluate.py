"""Bring-your-own-data evaluation: any CSV of leads or deals through the production training path.

Stratified 75/25 split (random_state=0), or with ``time_split`` the earliest 75% against the latest
25% by date; the split goes through scoring.records.training exactly as the store's records do: the
leakage guard (with the column names as a hint, since Pipewise did not build these columns, and
the rows whose target is empty as the open records), column typing, model selection and Platt
calibration on the 75%, the metrics and the verdict (does it beat the base rate?) on the 25%.
``keep`` overrides the guard for columns the user knows are filled before the outcome; the
report records each override beside what the guard found.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from scoring.records.attribution import contributions
from scoring.records.tabular import FALSE_WORDS, TRUE_WORDS, infer_kinds, to_days
from scoring.records.training import judge

SEED = 0
TEST_SHARE = 0.25


class EvaluationError(ValueError):
    """The file cannot be evaluated as asked; the message says why and what to do."""


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV with every value as text, so typing is decided by the values alone."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=True)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"Could not read {path} as CSV ({exc}). Check the path and that it is a "
                              "comma-separated file with a header row.") from exc


def outcome(series: pd.Series, positive: str | None = None) -> np.ndarray:
    """1 where the target equals the positive value (default: 1, true or yes), else 0."""
    words = series.astype("string").str.strip().str.lower()
    if positive is not None:
        return (words == str(positive).strip().lower()).to_numpy(dtype=int)
    known = TRUE_WORDS | FALSE_WORDS
    unknown = sorted(set(words.dropna().unique()) - known)
    if unknown:
        raise EvaluationError(f"The target has values other than yes/no, true/false or 1/0 "
                              f"(e.g. {unknown[0]!r}). Pass --positive with the value that counts as a success.")
    return words.isin(TRUE_WORDS).to_numpy(dtype=int)


def _time_split(features: pd.DataFrame, y: np.ndarray):
    """The earliest 75% for training, the latest 25% for testing, by the best-filled date column."""
    dates = [c for c, k in infer_kinds(features).items() if k == "date"]
    if not dates:
        raise EvaluationError("--time-split needs a date column, and none was found. Leave it out to split "
                              "at random.")
    column = max(dates, key=lambda c: features[c].notna().mean())
    days = to_days(features[column]).to_numpy(dtype=float)
    ranked = np.argsort(np.nan_to_num(days, nan=-np.inf), kind="stable")
    cut = int(round(len(y) * (1 - TEST_SHARE)))
    train, test = ranked[:cut], ranked[cut:]
    if len(np.unique(y[test])) < 2:
        raise EvaluationError(f"The latest 25% of rows by {column} hold only one outcome; "
                              "leave out --time-split to split at random.")
    return np.sort(train), np.sort(test), days, f"time: earliest 75% / latest 25% by {column}"


def evaluate_frame(frame: pd.DataFrame, target: str, positive: str | None = None,
                   id_column: str | None = None, time_split: bool = False, keep: tuple[str, ...] = ()) -> dict:
    """Train on 75% of the rows and report held-out metrics on the other 25%."""
    if target not in frame:
        columns = ", ".join(map(str, frame.columns))
        raise EvaluationError(f"The file has no column {target!r}. Columns: {columns}.")
    unknown = [c for c in keep if c not in frame or c in (target, id_column)]
    if unknown:
        raise EvaluationError(f"--keep names {', '.join(map(repr, unknown))}, which is not a feature column of the "
                              "file. Give the exact column name from its header row.")
    known = frame[target].astype("string").str.strip().fillna("").ne("").to_numpy()
    open_rows = frame[~known].drop(columns=[c for c in (target, id_column) if c])
    frame = frame[known].reset_index(drop=True)
    y = outcome(frame[target], positive)
    counts = np.bincount(y, minlength=2)
    if counts.min() < 10:
        raise EvaluationError(f"The target has {counts[1]} positive and {counts[0]} negative rows; at least 10 "
                              "of each are needed. Check --target and --positive.")
    features = frame.drop(columns=[c for c in (target, id_column) if c])
    if time_split:  # as production does: learn from the past, test on what came after
        train, test, order, split = _time_split(features, y)
    else:
        train, test = train_test_split(np.arange(len(y)), test_size=TEST_SHARE, stratify=y, random_state=SEED)
        train, test, order = np.sort(train), np.sort(test), None
        split = f"random: stratified 75% / 25%, random_state={SEED}"
    kinds = infer_kinds(features.iloc[train])
    judged = judge(features, y, kinds, ("negative", "positive"), order=order, split=(train, test),
                   open_frame=open_rows if len(open_rows) else None, keep=tuple(keep), kept_by="--keep",
                   foreign=True, plural="rows",
                   held_words="the {n} latest rows" if time_split else "the {n} held-out rows")
    if judged.candidate is None:
        raise EvaluationError("No usable feature column is left after removing identifiers and leaking columns.")
    metrics, report = judged.metrics, judged.report
    _, impacts = contributions(judged.candidate, features.iloc[test])
    top = impacts.abs().mean().sort_values(ascending=False).head(10)
    return {"auc": metrics["auc"], "brier": metrics["brier"], "brier_skill": metrics["brier_skill"],
            "log_loss": metrics["log_loss"], "base_rate": metrics["base_rate"],
            "base_rate_brier": metrics["base_rate_brier"], "prior_brier": metrics["prior_brier"],
            "top_decile_lift": metrics["top_decile_lift"], "model": judged.candidate.kind,
            "earns": judged.earns, "verdict": judged.verdict.replace(
                "Scores come from this model", "This model would score").replace(
                "Scores come from the base rate", "This model would not score: keep the base rate"),
            "excluded": sorted(report.excluded), "excluded_reasons": report.excluded, "ignored": judged.notes,
            "overrides": [{"column": f.column, "kept_by": f.kept_by, "guard_found": f.reason,
                           "auc_with": f.auc_with, "auc_without": f.auc_without} for f in report.overrides],
            "findings": report.to_dict()["findings"], "checks": report.notes,
            "open_rows": int(len(open_rows)), "features": judged.kinds, "calibration": metrics["calibration"],
            "top_factors": [{"feature": f, "mean_abs_impact": round(float(v), 4)} for f, v in top.items()],
            "n_train": int(len(train)), "n_test": int(len(test)), "split": split}


def evaluate_csv(path: str | Path, target: str, positive: str | None = None,
                 id_column: str | None = None, time_split: bool = False, keep: tuple[str, ...] = ()) -> dict:
    """Evaluate the production pipeline on a CSV file."""
    return evaluate_frame(read_table(path), target, positive, id_column, time_split, keep)


def report_lines(result: dict) -> list[str]:
    """The evaluation as lines a person reads."""
    skill = result["brier_skill"]
    lines = [f"Model chosen: {result['model']}  "
             f"(trained on {result['n_train']} rows, tested on {result['n_test']})",
             f"Split:           {result['split']}",
             f"ROC AUC:         {result['auc']:.4f}",
             f"Brier score:     {result['brier']:.4f}   (base rate alone: {result['prior_brier']:.4f}; "
             f"skill {skill if skill is not None else 0:+.1%})",
             f"Log loss:        {result['log_loss']:.4f}",
             f"Base rate:       {result['base_rate']:.4f}",
             f"Top-decile lift: {result['top_decile_lift']:.2f}x",
             f"Verdict:         {result['verdict']}", "", "Calibration by decile:",
             "  decile      n  predicted  observed"]
    lines += [f"  {row['decile']:>6} {row['n']:>6}  {row['predicted']:>9.3f}  {row['observed']:>8.3f}"
              for row in result["calibration"]]
    lines += ["", "Strongest factors (mean absolute impact on the log-odds):"]
    lines += [f"  {row['feature']}: {row['mean_abs_impact']:.3f}" for row in result["top_factors"]]
    lines += ["", "Columns excluded by the leakage guard:" if result["excluded"]
              else "Columns excluded by the leakage guard: none"]
    lines += [f"  {column}: {reason}" for column, reason in result["excluded_reasons"].items()]
    if result["overrides"]:
        lines += ["Columns kept on your word (--keep), against the guard:"]
        lines += [f"  {o['column']}: the guard found that {o['guard_found']} [AUC with it {o['auc_with']}, "
                  f"without it {o['auc_without']}]" for o in result["overrides"]]
    if result["checks"]:
        lines += ["Checked and kept:"] + [f"  {column}: {note}" for column, note in result["checks"].items()]
    if result["ignored"]:
        lines += ["Columns not used:"] + [f"  {column}: {reason}" for column, reason in result["ignored"].items()]
    return lines
