"""`make screenshots`: every screen a person reads, photographed in Debian's chromium at 1280 and 375 px.

Starts the demo stack on the small seed in a scratch folder, connects the Salesforce and HubSpot
sandboxes to one organization, waits for the first scores, then visits the console, the rep panels
inside the CRMs' record pages and the team panel on a manager's user page. The Dynamics 365 sandbox
runs (the stack starts it) but is not photographed yet: see SKIPPED. The pictures land in
``artifacts/screenshots/tour/`` (or ``--out``), named ``<screen>-<width>.png``, so two runs on two
commits compare screen by screen.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from pathlib import Path

from demo.chromium import CHROMIUM, CHROMIUM_ARGS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WIDTHS = (1280, 375)
# Said on every run, so a missing picture is never a silent one.
SKIPPED = ("Dynamics 365: not photographed. Its panel (a form web resource under /embed/dynamics/...) is not "
           "in the product yet, and its environment is another company's, with its own console.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def console_screens(connections: dict[str, int]) -> list[tuple[str, str]]:
    """(name, path) of each console screen, for the connections the tour made."""
    sf, hs = connections["salesforce"], connections["hubspot"]
    return [("connections", "/admin/connections"), ("connection-salesforce", f"/admin/connections/{sf}"),
            ("connection-hubspot", f"/admin/connections/{hs}"),
            ("progress-salesforce", f"/connections/{sf}/progress"),
            ("progress-hubspot", f"/connections/{hs}/progress"),
            ("mapping-salesforce", f"/admin/connections/{sf}/mapping"),
            ("models", "/admin/models"), ("webhooks", "/admin/webhooks"), ("audit", "/admin/audit"),
            ("api-keys", "/admin/api-keys"), ("erasure", "/admin/erasure")]


def framed(page, selector: str) -> None:
    """Bring a CRM page's Pipewise frame into view and wait until it shows a heading."""
    page.locator(selector).last.scroll_into_view_if_needed()
    page.frame_locator(selector).last.locator("h1, h2, h3").first.wait_for(timeout=30_000)


def photograph(page, out: Path, name: str, width: int) -> None:
    page.wait_for_load_state("networkidle")
    # A viewport as tall as the page, not full_page: chromium paints a frame below the first screen
    # blank in a stitched full-page capture.
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": width, "height": max(height, 900)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(out / f"{name}-{width}.png"))
    page.set_viewport_size({"width": width, "height": 900})
    print(f"  {name}-{width}.png", flush=True)


def tour(stack, connections: dict[str, int], out: Path) -> None:
    """Visit every screen at each width and save a picture of it."""
    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from sync.store import Score, User

    with stack.runtime.sessions() as db:
        top = {provider: db.scalars(select(Score.remote_id).where(
                   Score.connection_id == cid, Score.object_type == "opportunity")
                   .order_by(Score.score.desc(), Score.remote_id)).first()
               for provider, cid in connections.items()}
        # A manager: a Salesforce user whom someone reports to.
        managers = set(db.scalars(select(User.manager_remote_id).where(
            User.connection_id == connections["salesforce"], User.manager_remote_id.is_not(None))))
        manager = db.scalars(select(User.remote_id).where(User.connection_id == connections["salesforce"],
                                                          User.remote_id.in_(managers))
                             .order_by(User.remote_id)).first()
    cookies = [{"name": c.name, "value": c.value, "domain": "127.0.0.1", "path": c.path or "/"}
               for c in stack.browser.cookies]
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for width in WIDTHS:
            context = browser.new_context(ignore_https_errors=True, viewport={"width": width, "height": 900})
            context.add_cookies(cookies)
            page = context.new_page()
            for name, path in console_screens(connections):
                answer = page.goto(stack.web_url + path)
                if answer is not None and answer.status >= 400:
                    print(f"  {name}: {answer.status}", flush=True)
                photograph(page, out, name, width)
            if top["salesforce"]:
                page.goto(f"{stack.sandbox.base_url}/lightning/r/Opportunity/{top['salesforce']}/view")
                framed(page, "iframe[title='Pipewise']")
                photograph(page, out, "salesforce-record-panel", width)
            if top["hubspot"]:
                page.goto(f"{stack.hubspot.base_url}/contacts/{stack.hubspot.portal_id}/record/0-3/"
                          f"{top['hubspot']}")
                photograph(page, out, "hubspot-record-card", width)
                opener = page.get_by_role("button", name="Open Pipewise panel")
                if opener.count():
                    opener.first.click()
                    framed(page, "iframe")
                    photograph(page, out, "hubspot-record-panel", width)
            if manager:
                page.goto(f"{stack.sandbox.base_url}/lightning/r/User/{manager}/view?as={manager}")
                framed(page, "iframe")
                photograph(page, out, "salesforce-team-panel", width)
            context.close()
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.tour")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "artifacts" / "screenshots" / "tour")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"The tour needs Debian's chromium at {CHROMIUM}: sudo apt-get install -y chromium", file=sys.stderr)
        return 1
    scratch = Path(tempfile.mkdtemp(prefix="pipewise-tour-"))
    os.environ.update({"PIPEWISE_SANDBOX_PORT": str(free_port()), "PIPEWISE_HUBSPOT_SANDBOX_PORT": str(free_port()),
                       "PIPEWISE_DYNAMICS_SANDBOX_PORT": str(free_port()), "PIPEWISE_VAR_DIR": str(scratch)})
    from demo.stack import Stack

    stack = Stack(var_dir=scratch, web_port=free_port(), seed="small").start()
    try:
        stack.sign_in()
        connections = {"salesforce": stack.install("salesforce")}
        stack.wait_idle()
        connections["hubspot"] = stack.install("hubspot")
        stack.wait_idle()
        print(f"Photographing into {args.out}", flush=True)
        tour(stack, connections, args.out)
        print(SKIPPED, flush=True)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
