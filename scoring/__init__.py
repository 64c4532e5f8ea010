"""What Pipewise computes from the store, in three concerns.

- ``scoring.records``: one score per lead or deal: features, models, the leakage guard, training,
  the model registry, explanations and next steps.
- ``scoring.forecast``: expected revenue per period with its range, forecast calls, quotas,
  snapshots tracked against what closed, and the backtest.
- ``scoring.team``: the manager's panel: pipeline health, stage conversion, stalled deals, rep
  benchmarks, win/loss, funnel, coaching.

Shared by them: ``deals_as_of`` (the deals as known at a moment, and the calendar of periods they
are counted in) and ``scope`` (who sees whom).
The job entry points (``jobs``, ``event_job``) and the CLI (``cli``) sit at the top.
"""
