"""Per-record scoring: a lead's chance to convert and a deal's chance to be won, with reasons.

The targets and their words are declared in ``targets``. Features are read as of a moment
(``features``, ``lead_features``, ``deal_features`` with ``deal_stages``, ``track_records`` and the
per-process ``deal_context``), screened for leakage (``leakage`` and ``leak_*``), fit and judged on a
mature holdout (``training``, ``models``, ``tabular``, ``metrics``), kept in the registry
(``registry``, ``model_card``, ``card_words``, ``model_overrides``), and turned into a stored score
with its reasons and next step (``score``, ``attribution``, ``explain``, ``nextstep``, ``rules``,
``bands``). ``stage_age`` is the honest fallback when no deal model beats the base rate.
"""
