"""Debian's chromium under Playwright: the one way every browser test starts it."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from demo.chromium import CHROMIUM, CHROMIUM_ARGS

SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
# axe-core comes from the npm registry into tests/js/node_modules (`npm ci --prefix tests/js`).
AXE = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"


def launch_chromium(playwright):
    """Launch Debian's chromium; fail (never skip) with the install command when it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"The browser tests need Debian's chromium at {CHROMIUM}: run `make test`, "
                    "which installs it, or `sudo apt-get install -y chromium`.")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def sign_in_with_salesforce(page, base: str) -> None:
    """Sign in to the console through the Salesforce sandbox's consent page, as an admin does."""
    page.goto(base + "/admin/connections")
    page.get_by_role("link", name="Sign in with Salesforce").click()
    page.get_by_role("button", name="Allow").click()


def axe_violations(frame) -> list[str]:
    """Serious or critical WCAG 2.1 A/AA violations axe-core finds in a page or frame.

    The page's context must bypass CSP (``bypass_csp=True``): Pipewise's script-src 'self' would
    block the injected axe script, as it should block any script not its own.
    """
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci --prefix tests/js` (make test does).")
    frame.add_script_tag(path=str(AXE))
    result = frame.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})""")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def serve(app):
    """Serve the app on a free local port for a browser; its public URL (OAuth redirects) follows."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    app.extensions["pipewise"].config.PUBLIC_URL = base
    return server, base
