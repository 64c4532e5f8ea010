"""Revenue forecasts: what a period will close, with P10/P50/P90, and how that compares with what did.

``revenue`` adds won, open and not-yet-created revenue; ``timing``, ``runrate``, ``simulation``
and ``calibration`` are its parts. ``calls`` keeps the reps' and managers' forecast calls,
``quotas`` the targets, ``snapshots`` what was forecast when, and ``backtest`` scores the method
against baselines. ``cli`` is the ``flask forecast`` command group.
"""
