"""The manager's panel: how a team's pipeline stands and what to do about it.

``pipeline`` (health per stage, deals closing, stalled deals via ``stalled``), ``benchmarks``
(reps against the team), ``winloss``, ``funnel`` and ``coaching``. ``deal_totals`` and
``stage_windows`` read the rollups the sync keeps; ``data_periods`` picks the quarter a view
opens on.
"""
