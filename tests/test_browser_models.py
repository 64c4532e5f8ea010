"""In a real browser: the model card leads with a plain verdict, and shows a retrain while it runs."""
from __future__ import annotations

from sync.store import Connection, ModelVersion
from tests.browser import SCREENSHOTS, launch_chromium, serve, sign_in_with_salesforce
from tests.conftest import connect_salesforce
from tests.test_admin_signin import build_app

EARNING = {"scorer": "model", "earns": True, "verdict": "The model beats the base rate and the rules.",
           "metrics": {"auc": 0.7712, "brier": 0.1203, "log_loss": 0.3811, "brier_skill": 0.184,
                       "top_decile_lift": 2.5, "n": 1600, "base_rate": 0.105, "positives": 168},
           "top_factors": [{"feature": "age_days", "mean_abs_impact": 2.0421},
                           {"feature": "lead_source", "mean_abs_impact": 0.6807},
                           {"feature": "days_since_response", "mean_abs_impact": 0.3403}],
           "exposure": ["age_days"], "base_rate": 0.105,
           "training": {"labelled": 8000, "positives": 842, "negatives": 7158, "open_records": 900}}
FALLBACK = {"scorer": "fallback", "earns": False, "base_rate": 0.61,
            "verdict": "The trained model did no better than the stage-and-age win rate on recent deals "
                       "(Brier skill 0.4% against 1.2%), so the win rate scores.",
            "metrics": {"auc": 0.5123, "brier": 0.2361, "log_loss": 0.6642, "brier_skill": 0.004,
                        "top_decile_lift": 1.04, "n": 900, "base_rate": 0.61}}


def test_the_model_card_reads_as_a_verdict_and_shows_training(tmp_path, sqlite_url, redis_url, sf_sandbox):
    from playwright.sync_api import expect, sync_playwright

    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    rt = app.extensions["pipewise"]
    connection_id = connect_salesforce(rt, sf_sandbox)
    with rt.sessions() as session:
        organization_id = session.get(Connection, connection_id).organization_id
        session.add_all([ModelVersion(organization_id=organization_id, target="lead", version="lead-20171001-a1",
                                      kind="gradient_boosting", is_active=True, card=EARNING),
                         ModelVersion(organization_id=organization_id, target="opportunity",
                                      version="opportunity-20171001-b2", kind="stage_age", is_active=True,
                                      card=FALLBACK)])
        session.commit()
    server, base = serve(app)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
            sign_in_with_salesforce(page, base)
            page.goto(base + "/admin/models")

            leads = page.locator("#model-lead")
            verdict = leads.get_by_test_id("verdict-lead")
            expect(verdict).to_have_text("Better than guessing: sorts the top 10% of leads 2.5× above average")
            expect(leads).to_contain_text("Tested on 1,600 recent leads it had not seen, of which 10% went on "
                                          "to convert. Its chances are 18% closer to what happened")
            factors = leads.locator("table.factors tbody tr").all_inner_texts()
            assert [f.split("\t") for f in factors] == [["Age of the record", "67%"], ["Lead source", "22%"],
                                                        ["Days since last campaign response", "11%"]]
            # The verdict comes first; the data scientist's figures stay below it.
            assert verdict.bounding_box()["y"] < leads.get_by_role("term").filter(has_text="AUC").bounding_box()["y"]
            assert "mean impact" not in leads.inner_text() and "age days" not in leads.inner_text()

            deals = page.locator("#model-opportunity")
            expect(deals.get_by_test_id("verdict-opportunity")).to_have_text(
                "Not good enough yet — Pipewise uses the stage-and-age win rate")
            expect(deals).to_contain_text("did no better than the stage-and-age win rate")
            page.screenshot(path=str(SCREENSHOTS / "ui16b-models-after.png"), full_page=True)

            # Retrain: the job's page follows it, and the card says a new model is being trained (no worker here).
            leads.get_by_role("button", name="Retrain now").click()
            expect(page.locator("#job-status")).to_have_text("Waiting for a worker.")
            page.goto(base + "/admin/models")
            training = page.get_by_test_id("training-lead")
            expect(training).to_contain_text("Training a new lead model: waiting for a worker")
            expect(training).to_contain_text("The card below is the version scoring now")
            expect(page.get_by_test_id("verdict-lead")).to_be_visible()
            page.screenshot(path=str(SCREENSHOTS / "ui16b-models-training-after.png"), full_page=True)
            browser.close()
    finally:
        server.shutdown()
