"""`make bench` runs end to end on a small organization: every team panel view answers on both stores.

Nothing else runs the benchmark, so a change to the store or the views could break it unnoticed (the
quota table once did). The figures themselves belong to `make bench`, not to a test.
"""
from __future__ import annotations

import json

from demo import bench


def test_the_panel_bench_times_every_view_on_sqlite_and_postgresql(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "PROJECT_ROOT", tmp_path)  # its var/bench/, not the checkout's
    var = tmp_path / "var"
    var.mkdir()
    monkeypatch.setenv("PIPEWISE_VAR_DIR", str(var))  # the embedded Redis the panels' app starts lives here
    assert bench.main(["--opportunities", "1000", "--runs", "1", "--org-runs", "1", "--scoring-leads", "0",
                       "--intake-seconds", "0", "--latency-changes", "0"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for scope in ("panels", "whole_organization"):
        assert set(figures[scope]) == set(bench.VIEWS)
        for view, stores in figures[scope].items():
            assert set(stores) == {"sqlite", "postgresql"}, view
            assert all(store["p50_ms"] > 0 for store in stores.values()), view
