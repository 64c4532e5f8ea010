"""Times as a person reads them: their CRM zone, then their organization's, then UTC; never an error."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from embed.manager_cells import cell
from sync.local_time import UTC, day_start, format_local, user_zone, zone
from sync.store import Base, Connection, Organization, User

NOON_UTC = datetime(2024, 5, 20, 12, 0)


def test_a_stored_moment_shows_on_the_viewers_clock_with_the_zones_abbreviation():
    assert format_local(NOON_UTC, zone("America/Los_Angeles")) == "2024-05-20 05:00 PDT"
    assert format_local(datetime(2024, 1, 20, 12, 0), zone("America/Los_Angeles")) == "2024-01-20 04:00 PST"
    assert format_local(NOON_UTC, zone("Europe/Berlin")) == "2024-05-20 14:00 CEST"
    assert format_local(NOON_UTC, zone("Asia/Kolkata")) == "2024-05-20 17:30 IST"
    # Late evening in UTC is already tomorrow in Tokyo.
    assert format_local(datetime(2024, 5, 20, 23, 30), zone("Asia/Tokyo")) == "2024-05-21 08:30 JST"
    # An aware moment is the same moment.
    assert format_local(NOON_UTC.replace(tzinfo=timezone.utc), zone("America/New_York")) == "2024-05-20 08:00 EDT"
    assert format_local(None, UTC) == "" and format_local(None, UTC, "never") == "never"


def test_the_day_clocks_change_is_on_the_right_side_of_the_hour():
    la = zone("America/Los_Angeles")
    assert format_local(datetime(2024, 3, 10, 9, 59), la) == "2024-03-10 01:59 PST"
    assert format_local(datetime(2024, 3, 10, 10, 0), la) == "2024-03-10 03:00 PDT"


def test_an_unknown_zone_falls_back_to_the_next_then_utc_never_an_error():
    assert zone("Mars/Olympus_Mons", "America/Chicago").key == "America/Chicago"
    assert zone("../../etc/passwd", "", None, "US/Eastern").key == "US/Eastern"  # HubSpot's link names work
    assert zone(None, "Not/AZone") is UTC
    assert format_local(NOON_UTC, zone("GMT+99")) == "2024-05-20 12:00 UTC"


def test_a_day_starts_at_the_viewers_midnight():
    assert day_start(date(2024, 5, 20), zone("America/Los_Angeles")) == datetime(2024, 5, 20, 7, 0)
    assert day_start(date(2024, 5, 20), UTC) == datetime(2024, 5, 20)


def test_team_panel_cells_show_moments_in_the_viewers_zone():
    row = {"submitted_at": NOON_UTC}
    assert cell(row, "submitted_at", "call", zone("America/New_York")) == "2024-05-20 08:00 EDT"
    assert cell(row, "submitted_at", "call") == "2024-05-20 12:00 UTC"


def test_a_user_sees_their_zone_else_their_organizations_else_utc(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    Base.metadata.create_all(engine)
    with sessionmaker(engine)() as db:
        org = Organization(name="Acme")
        db.add(org)
        db.flush()
        crm = Connection(organization_id=org.id, provider="salesforce", remote_org_id="00D000000000001AAA",
                         instance_url="https://acme.example", token_ciphertext=b"x", time_zone="America/Chicago")
        marketing = Connection(organization_id=org.id, provider="hubspot", remote_org_id="42",
                               instance_url="https://app.example", token_ciphertext=b"x")
        db.add_all([crm, marketing])
        db.flush()
        for remote_id, tz in (("005A", "Asia/Tokyo"), ("005B", None), ("005C", "Not/AZone")):
            db.add(User(organization_id=org.id, connection_id=crm.id, remote_id=remote_id, remote_data={},
                        content_hash="h", time_zone=tz))
        db.flush()
        assert user_zone(db, crm, ["005A"]).key == "Asia/Tokyo"
        assert user_zone(db, crm, ["005B"]).key == "America/Chicago"
        assert user_zone(db, crm, ["005C"]).key == "America/Chicago"
        assert user_zone(db, crm, [None, ""]).key == "America/Chicago"
        # A connection that knows no zone uses its organization's (another connection's).
        assert user_zone(db, marketing, ["7"]).key == "America/Chicago"
        crm.time_zone = None
        db.flush()
        assert user_zone(db, marketing, ["7"]) is UTC
    engine.dispose()
