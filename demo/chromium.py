"""Debian's chromium, as the browser tests and `make screenshots` start it."""
from __future__ import annotations

import os

CHROMIUM = os.environ.get("PIPEWISE_CHROMIUM", "/usr/bin/chromium")
# Without the networking flags chromium reaches for Google's hosts, which this network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
