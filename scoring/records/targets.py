"""The kinds of record Pipewise scores (its targets), and the words a card, a log and the admin use for each.

Declared once, without the scoring machinery, so the admin screens can read them without loading it.
"""
from __future__ import annotations

TARGETS = ("lead", "opportunity")
# How many of them are called, and what their two outcomes and the success are called.
PLURALS = {"lead": "leads", "opportunity": "deals"}
OUTCOME_NAMES = {"lead": ("not converted", "converted"), "opportunity": ("lost", "won")}
SUCCESS_VERBS = {"lead": "convert", "opportunity": "win"}
# What scores a target's records while no trained model earns the right to.
FALLBACK_NAMES = {"lead": "rules", "opportunity": "the stage-and-age win rate"}
