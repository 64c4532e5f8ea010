"""The manager's panel: how a team's pipeline stands and what to do about it.

``pipeline`` (health: open pipeline by stage, coverage, velocity, deals closing), ``stage_stats``
(stage-to-stage conversion and each stage's P75 stay), ``stalled``, ``benchmarks`` (reps against
the team), ``winloss``, ``funnel`` and ``coaching``. ``views`` holds what they all share (the
exportable table, the history window, a record's CRM link). ``deal_totals`` and ``stage_windows``
read the rollups the sync keeps; ``data_periods`` picks the quarter a view opens on.
"""
