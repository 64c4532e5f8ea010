"""The team panel's numbers against independent calculations in plain Python over the same seeded rows,
on SQLite and on PostgreSQL (the seed is in test_manager_seed).
"""
from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta

import pytest

from scoring.forecast.quotas import combine, forecast_against_quota, quota_for, set_quotas
from scoring.scope import Viewer, owner_names, subject_for
from scoring.team.benchmarks import benchmarks
from scoring.team.coaching import RULES, coaching
from scoring.team.funnel import funnel
from scoring.team.pipeline import deals_closing, period_figures, pipeline_health, stage_breakdown, velocity
from scoring.team.stage_stats import stage_conversion, stage_p75_days
from scoring.team.stalled import stalled_deals
from scoring.team.winloss import SIZE_BANDS, win_loss
from sync.store import Quota
from tests.test_manager_seed import (ADMIN, AS_OF, DIRECTOR, INSTANCE, LOST, M1, M2, MANAGERS, NOW, PERIOD, R1, R2, R3,
                                     R4, R5, REPS, STAGES, WON, Seed, parse_period, prepare_store, seed_team)


@pytest.fixture
def store(db_url):
    engine, sessions = prepare_store(db_url)
    with sessions() as session:
        seed = seed_team(session)
    with sessions() as session:
        yield session, seed
    engine.dispose()


# -- independent calculations ----------------------------------------------------------------------

def days(start, end) -> float:
    as_dt = lambda v: v if isinstance(v, datetime) else datetime(v.year, v.month, v.day)  # noqa: E731
    return (as_dt(end) - as_dt(start)).total_seconds() / 86400


def in_scope(row, owners, key="owner_remote_id"):
    return owners is None or row[key] in owners


def entries(seed: Seed, owners, since, until, open_only=False):
    """Stage entries per deal (consecutive same-stage changes merged), with the next entry."""
    deals = {o["remote_id"]: o for o in seed.opportunities if in_scope(o, owners)
             and (not open_only or not o["is_closed"])}
    by_deal: dict[str, list] = {}
    for c in sorted(seed.changes, key=lambda c: (c["changed_at"], c["remote_id"])):
        if c["opportunity_remote_id"] in deals and c["changed_at"] < until and (since is None or c["changed_at"] >= since):
            by_deal.setdefault(c["opportunity_remote_id"], []).append(c)
    out = []
    for deal_id, changes in by_deal.items():
        kept = [c for i, c in enumerate(changes) if i == 0 or changes[i - 1]["stage"] != c["stage"]]
        for i, c in enumerate(kept):
            nxt = kept[i + 1] if i + 1 < len(kept) else None
            out.append({"deal": deals[deal_id], "stage": c["stage"], "at": c["changed_at"],
                        "next": nxt["stage"] if nxt else None, "next_at": nxt["changed_at"] if nxt else None})
    return out


def team_of(leader):
    found, frontier = {leader}, [leader]
    while frontier:
        boss = frontier.pop()
        for user, manager in MANAGERS.items():
            if manager == boss and user not in found:
                found.add(user)
                frontier.append(user)
    return frozenset(found)


# -- the tests ---------------------------------------------------------------------------------------

def test_pipeline_health_matches_plain_python(store):
    session, seed = store
    org, owners = seed.organization_id, team_of(M1)
    deals = [o for o in seed.opportunities if in_scope(o, owners)]
    open_deals = [o for o in deals if not o["is_closed"]]

    stages = {r["stage"]: r for r in stage_breakdown(session, org, owners).rows}
    for stage in {o["stage"] for o in open_deals}:
        mine = [o for o in open_deals if o["stage"] == stage]
        assert stages[stage]["deals"] == len(mine)
        assert stages[stage]["amount"] == pytest.approx(sum(o["amount"] for o in mine))
    assert sum(r["deals"] for r in stages.values()) == len(open_deals)

    figures = period_figures(session, org, owners, PERIOD, AS_OF)[0]
    closing = sum(o["amount"] for o in open_deals if PERIOD.start <= o["close_date"] < PERIOD.end)
    won = sum(o["amount"] for o in deals if o["is_won"] and PERIOD.start <= o["close_date"] < AS_OF)
    assert figures["open_in_period"] == pytest.approx(closing) and figures["won"] == pytest.approx(won)

    subject = subject_for(session, Viewer(org, M1, "manager"))
    health = pipeline_health(session, org, subject, PERIOD, AS_OF, owner_names(session, org))
    assert health["figures"]["quota"] == 250000  # the leader's own quota is the team's number
    assert health["figures"]["coverage"] == pytest.approx(closing / (250000 - won))

    since = AS_OF - timedelta(days=365)
    closed = [o for o in deals if o["is_closed"] and since <= o["close_date"] < AS_OF]
    wins = [o for o in closed if o["is_won"]]
    speed = velocity(session, org, owners, AS_OF)
    win_rate = len(wins) / len(closed)
    avg_won = sum(o["amount"] for o in wins) / len(wins)
    cycle = sum(days(o["remote_created_at"], o["close_date"]) for o in wins) / len(wins)
    assert speed["win_rate"] == pytest.approx(win_rate)
    assert speed["avg_cycle_days"] == pytest.approx(cycle)
    assert speed["per_day"] == pytest.approx(len(open_deals) * win_rate * avg_won / cycle)


def test_stage_conversion_p75_and_stalled_deals_match(store):
    session, seed = store
    org, owners = seed.organization_id, team_of(M2)
    since, until = NOW - timedelta(days=365), NOW
    stays = entries(seed, owners, since, until)
    lost_stages = {o["stage"] for o in seed.opportunities if in_scope(o, owners) and o["is_closed"] and not o["is_won"]}
    table = {r["stage"]: r for r in stage_conversion(session, org, owners, AS_OF).rows}
    assert set(table) == {s["stage"] for s in stays} - {WON, LOST}
    for stage, row in table.items():
        mine = [s for s in stays if s["stage"] == stage]
        advanced = sum(1 for s in mine if s["next"] and s["next"] not in lost_stages)
        assert (row["entered"], row["advanced"], row["lost"]) == (
            len(mine), advanced, sum(1 for s in mine if s["next"] in lost_stages))
    assert [r["stage"] for r in stage_conversion(session, org, owners, AS_OF).rows][:2] == STAGES[:2]

    for scope in (None, owners):
        p75 = stage_p75_days(session, org, AS_OF, scope)
        for stage in STAGES:
            durations = sorted(days(s["at"], s["next_at"]) for s in entries(seed, scope, since, until)
                               if s["stage"] == stage and s["next_at"])
            assert p75[stage] == pytest.approx(durations[math.ceil(0.75 * len(durations)) - 1])
    # p75 is now the team's: the stalled list measures each stage against the team's own P75.

    expected = set()
    everything = entries(seed, owners, None, until, open_only=True)
    for deal in (o for o in seed.opportunities if in_scope(o, owners) and not o["is_closed"]):
        touches = [a["occurred_at"] for a in seed.activities if a["what_remote_id"] == deal["remote_id"]
                   and a["occurred_at"] < NOW]
        idle = days(max(touches) if touches else deal["remote_created_at"], NOW)
        entered = [s["at"] for s in everything if s["deal"] is deal and s["stage"] == deal["stage"]]
        in_stage = days(max(entered) if entered else deal["remote_created_at"], NOW)
        if idle >= 14 or (deal["stage"] in p75 and in_stage > p75[deal["stage"]]):
            expected.add(deal["remote_id"])
    stalled = stalled_deals(session, org, owners, AS_OF, limit=1000)
    assert {r["remote_id"] for r in stalled.rows} == expected and stalled.totals["count"] == len(expected)
    closing = deals_closing(session, org, {R3}, PERIOD, {})
    assert {r["remote_id"] for r in closing.rows} == {
        o["remote_id"] for o in seed.opportunities
        if o["owner_remote_id"] == R3 and not o["is_closed"] and o["close_date"] < PERIOD.end}
    first = stalled.rows[0]
    assert first["url"] == f"{INSTANCE}/lightning/r/Opportunity/{first['remote_id']}/view"
    assert [r["idle_days"] for r in stalled.rows] == sorted((r["idle_days"] for r in stalled.rows), reverse=True)


def rep_metrics(seed: Seed, period, upto):
    """Per rep: win rate, cycle, average won size and rep activities of a window."""
    out = {}
    for rep in REPS:
        closed = [o for o in seed.opportunities if o["owner_remote_id"] == rep and o["is_closed"]
                  and period.start <= o["close_date"] < upto]
        wins = [o for o in closed if o["is_won"]]
        acts = [a for a in seed.activities if a["owner_remote_id"] == rep and a["kind"] != "web_visit"
                and datetime.combine(period.start, datetime.min.time()) <= a["occurred_at"]
                < datetime.combine(upto, datetime.min.time())]
        out[rep] = {"win_rate": len(wins) / len(closed) if closed else None,
                    "cycle_days": statistics.mean(days(o["remote_created_at"], o["close_date"]) for o in wins) if wins else None,
                    "avg_deal": statistics.mean(o["amount"] for o in wins) if wins else None,
                    "activities": len(acts)}
    return out


def test_benchmarks_and_coaching_match(store):
    session, seed = store
    org = seed.organization_id
    now, before = rep_metrics(seed, PERIOD, AS_OF), rep_metrics(seed, PERIOD.previous(), PERIOD.start)
    team = team_of(DIRECTOR)
    subject = subject_for(session, Viewer(org, DIRECTOR, "manager"))
    names = owner_names(session, org)
    result = benchmarks(session, org, subject, PERIOD, AS_OF, names)
    rows = {(r["owner"], r["metric_key"]): r for r in result["tables"][0].rows}
    assert {owner for owner, _ in rows} <= team and R5 not in {owner for owner, _ in rows}
    for key, better_high in (("win_rate", True), ("cycle_days", False), ("avg_deal", True), ("activities", True)):
        values = [now[r][key] for r in REPS if r in team and now[r][key] is not None]
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
        for rep in (R1, R2, R3, R4):
            row = rows[rep, key]
            assert row["value"] == pytest.approx(now[rep][key])
            assert row["previous"] == pytest.approx(before[rep][key])
            assert row["median"] == pytest.approx(median) and row["top"] == pytest.approx(q3 if better_high else q1)
            if now[rep][key] is not None:
                beaten = sum(1 for v in values if (v < now[rep][key] if better_high else v > now[rep][key]))
                ties = sum(1 for v in values if v == now[rep][key])
                assert row["percentile"] == pytest.approx(100 * (beaten + ties / 2) / len(values))

    gaps = coaching(session, org, subject, PERIOD, AS_OF, names)["tables"][0].rows
    assert gaps, "someone in the team is behind the top quartile"
    for rep in (R1, R2, R3, R4):
        mine = [g for g in gaps if g["owner"] == rep]
        assert [g["gap"] for g in mine] == sorted((g["gap"] for g in mine), reverse=True) and len(mine) <= 3
        for g in mine:
            top = rows[rep, g["metric_key"]]["top"]
            value = now[rep][g["metric_key"]]
            expected_gap = (value - top) / top if g["metric_key"] == "cycle_days" else (top - value) / top
            assert g["gap"] == pytest.approx(expected_gap) and g["gap"] >= 0.05
            assert g["problem"] == RULES[g["metric_key"]].problem and g["suggestion"]


def test_win_loss_by_every_dimension_matches(store):
    session, seed = store
    org, owners = seed.organization_id, None
    closed = [o for o in seed.opportunities if o["is_closed"] and PERIOD.start <= o["close_date"] < AS_OF]
    teams = {u["remote_id"]: u["team"] for u in seed.users}
    bounds = [b for b, _ in SIZE_BANDS if b]
    keys = {"product": lambda o: o["product"], "sector": lambda o: seed.accounts.get(o["account_remote_id"]),
            "region": lambda o: teams.get(o["owner_remote_id"]), "rep": lambda o: o["owner_remote_id"],
            "size": lambda o: next((i for i, b in enumerate(bounds) if o["amount"] < b), len(bounds))}
    names = owner_names(session, org)
    for dimension, key in keys.items():
        table = win_loss(session, org, owners, PERIOD, AS_OF, dimension, names)
        got = {r["key"]: r for r in table.rows}
        expected: dict = {}
        for o in closed:
            entry = expected.setdefault(key(o), [0, 0, 0.0])
            entry[0 if o["is_won"] else 1] += 1
            entry[2] += o["amount"] if o["is_won"] else 0.0
        assert set(got) == set(expected), dimension
        for value, (won, lost, amount) in expected.items():
            assert (got[value]["won"], got[value]["lost"]) == (won, lost)
            assert got[value]["won_amount"] == pytest.approx(amount)
            assert got[value]["win_rate"] == pytest.approx(won / (won + lost))
        assert table.totals["won"] == sum(1 for o in closed if o["is_won"])


def test_funnel_by_source_and_campaign_matches(store):
    session, seed = store
    org, owners = seed.organization_id, team_of(M1)
    opps = {o["remote_id"]: o for o in seed.opportunities}
    leads = [lead for lead in seed.leads if in_scope(lead, owners)
             and PERIOD.start <= lead["remote_created_at"].date() < AS_OF]

    def expect(group):
        opp = [opps[lead["converted_opportunity_remote_id"]] for lead in group if lead.get("converted_opportunity_remote_id")]
        won = [o for o in opp if o["is_won"]]
        converted = [lead for lead in group if lead["is_converted"]]
        return {"leads": len(group), "converted": len(converted), "opportunities": len(opp), "won": len(won),
                # Calendar days: a day's count does not depend on the hour a lead came in or converted.
                "days_to_convert": statistics.mean(days(lead["remote_created_at"].date(), lead["converted_at"].date())
                                                   for lead in converted) if converted else None}

    names = owner_names(session, org)
    by_source = {r["key"]: r for r in funnel(session, org, owners, PERIOD, AS_OF, "source", names).rows}
    for source in {lead["lead_source"] for lead in leads}:
        want = expect([lead for lead in leads if lead["lead_source"] == source])
        got = by_source[source]
        assert {k: got[k] for k in ("leads", "converted", "opportunities", "won")} == {
            k: want[k] for k in ("leads", "converted", "opportunities", "won")}
        assert got["days_to_convert"] == pytest.approx(want["days_to_convert"])
        assert got["lead_to_converted"] == pytest.approx(want["converted"] / want["leads"])
    campaigns = {"701A00000000000CA1": "Spring webinar", "701A00000000000CA2": "Trade show"}
    by_campaign = {r["key"]: r for r in funnel(session, org, owners, PERIOD, AS_OF, "campaign", names).rows}
    for campaign_id, name in campaigns.items():
        members = {m["lead_remote_id"] for m in seed.members if m["campaign_remote_id"] == campaign_id}
        want = expect([lead for lead in leads if lead["remote_id"] in members])
        assert by_campaign[name]["leads"] == want["leads"] and by_campaign[name]["won"] == want["won"]
    total = funnel(session, org, owners, PERIOD, AS_OF, "campaign", names).totals
    assert total["leads"] == len(leads), "a lead in two campaigns counts once in the total"


def test_forecast_against_quota_and_history(store):
    session, seed = store
    org = seed.organization_id
    names = owner_names(session, org)
    team = subject_for(session, Viewer(org, M2, "manager"))
    view = forecast_against_quota(session, org, team, "2024-Q2", AS_OF, names)
    assert view["source"] == "snapshot"
    rows = {r["owner"]: r for r in view["rows"]}
    assert set(rows) == {R3, R4}
    # The newest snapshot on or before as_of (2024-05-01), scale 1.0: rep i gets 50000 + 10000 i.
    assert rows[R3]["p50"] == pytest.approx(80000) and rows[R3]["quota"] == 80000
    assert rows[R3]["attainment_p50"] == pytest.approx(1.0)
    p50 = 80000 + 90000
    assert view["totals"]["p50"] == pytest.approx(p50)
    assert view["totals"]["p10"] == pytest.approx(p50 - math.hypot(80000 * 0.3, 90000 * 0.3))
    assert view["totals"]["quota"] == 150000, "M2 has no quota of their own: the reps' quotas add up"
    history = {h["period"]: h for h in view["history"]}
    q1 = parse_period("2024-Q1")
    won = sum(o["amount"] for o in seed.opportunities if o["owner_remote_id"] in (R3, R4) and o["is_won"]
              and q1.start <= o["close_date"] < q1.end)
    assert history["2024-Q1"]["won"] == pytest.approx(won)
    assert history["2024-Q1"]["p50"] == pytest.approx((80000 + 90000) * 1.1)

    everyone = subject_for(session, Viewer(org, ADMIN, "admin"))
    whole = forecast_against_quota(session, org, everyone, "2024-Q2", AS_OF, names)
    assert whole["totals"]["p50"] == pytest.approx(300000), "the organization's own snapshot"
    # Leaves only: the reps' 360,000; M1's 250,000 is not added on top of R1's and R2's.
    assert whole["totals"]["quota"] == 120000 + 90000 + 80000 + 70000


def test_quotas_set_counted_and_fall_back(store):
    session, seed = store
    org = seed.organization_id
    rep = subject_for(session, Viewer(org, R5, "rep"))
    assert quota_for(session, org, "2024-Q2", rep) is None
    assert pipeline_health(session, org, rep, PERIOD, AS_OF, {})["figures"]["coverage_text"] == "no quota set"
    rows = [{"owner_remote_id": R5, "period": "2024-Q2", "amount": 50000.0},
            {"owner_remote_id": R5, "period": "2024-07", "amount": 55000.0}]
    set_quotas(session, org, rows)
    set_quotas(session, org, rows[:1])  # saving the same figure again changes nothing
    session.commit()
    assert quota_for(session, org, "2024-Q2", rep) == 50000
    assert session.query(Quota).filter_by(owner_remote_id=R5).count() == 2
    assert combine([{"expected": 1, "p10": 1, "p50": 2, "p90": 3}]) == {"expected": 1, "p10": 1, "p50": 2, "p90": 3}
