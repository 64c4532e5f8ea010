"""Debian's chromium under Playwright: the one way every browser test starts it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PIPEWISE_CHROMIUM", "/usr/bin/chromium")
# Without the networking flags chromium reaches for Google's hosts, which this network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"


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
