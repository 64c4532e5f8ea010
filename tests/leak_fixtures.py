"""A lead export built to contain every kind of leak the guard must catch, beside honest columns.

Modelled on what real lead exports hold: a tag column whose values name the outcome ("Closed by
…", "Lost to …", "Will revert …"), a rep's quality judgement filled after contact, a "last
activity" recorded at export time, a date filled only for converted leads, and a deal amount
rewritten with the closing value when the lead converted (open and lost leads keep the list
price). Rows whose outcome is not known yet (an empty target) stand for the open leads.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

HONEST = ("Lead Origin", "Lead Source", "TotalVisits", "Total Time Spent on Website", "Created", "City")
LEAKS = {"Tags": "purity", "Lead Quality": "judgement", "Last Notable Activity": "judgement",
         "Converted On": "presence", "Deal Amount": "after_the_fact"}
LIST_PRICES = (550.0, 1096.0, 3393.0, 5482.0)


def constructed_leads(n: int = 2400, n_open: int = 400, seed: int = 0) -> pd.DataFrame:
    """The export as text columns, as a CSV would give them; ``Converted`` is 1/0, empty for open leads."""
    rng = np.random.default_rng(seed)
    total = n + n_open
    time_spent = rng.gamma(2.0, 300.0, total)
    origin = rng.choice(["Landing Page Submission", "API", "Lead Add Form", "Lead Import"], total, p=[.5, .3, .1, .1])
    source = rng.choice(["Google", "Direct Traffic", "Olark Chat", "Organic Search", "Reference"], total)
    lift = np.select([origin == "Lead Add Form", source == "Reference"], [1.0, 0.6], 0.0)
    logit = -1.6 + 1.2 * (time_spent - 600) / 600 + lift + rng.normal(0, 0.8, total)
    converted = (rng.random(total) < 1 / (1 + np.exp(-logit))).astype(int)
    known = np.arange(total) < n
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 360, total), unit="D")

    tags = np.where(converted == 1,
                    rng.choice(["Closed by Horizzon", "Will revert after reading the email", "Lost to EINS",
                                "Interested in other courses", ""], total, p=[.3, .45, .1, .05, .1]),
                    rng.choice(["Ringing", "Interested in other courses", "Already a student",
                                "Will revert after reading the email", ""], total, p=[.25, .15, .1, .02, .48]))
    tags = np.where(known, tags, rng.choice(["Ringing", "Interested in other courses", ""], total))
    quality_filled = rng.random(total) < np.where(converted == 1, 0.75, 0.3)
    quality = np.where(converted == 1,
                       rng.choice(["High in Relevance", "Might be", "Not Sure", "Worst"], total, p=[.5, .35, .1, .05]),
                       rng.choice(["Not Sure", "Worst", "Might be", "High in Relevance"], total, p=[.4, .25, .2, .15]))
    quality = np.where(quality_filled & known, quality, "")
    last = np.where(converted == 1, rng.choice(["SMS Sent", "Email Opened", "Modified"], total, p=[.55, .3, .15]),
                    rng.choice(["SMS Sent", "Email Opened", "Modified"], total, p=[.15, .45, .4]))
    converted_on = np.where((converted == 1) & known,
                            (created + pd.Timedelta(days=20)).strftime("%Y-%m-%d"), "")
    price = rng.choice(LIST_PRICES, total)
    amount = np.where((converted == 1) & known, np.round(price * rng.uniform(0.8, 1.3, total)), price)
    return pd.DataFrame({
        "Prospect ID": [f"p-{i:06d}-{rng.integers(1e9)}" for i in range(total)],
        "Lead Origin": origin, "Lead Source": source,
        "TotalVisits": rng.poisson(3 + 2 * (time_spent > 600)).astype(str),
        "Total Time Spent on Website": np.round(time_spent).astype(int).astype(str),
        "Created": created.strftime("%Y-%m-%d"),
        "City": rng.choice(["Mumbai", "Thane", "Other Cities", "Pune"], total),
        "Tags": tags, "Lead Quality": quality, "Last Notable Activity": last, "Converted On": converted_on,
        "Deal Amount": amount.astype(str),
        "Converted": np.where(known, converted.astype(str), ""),
    }).replace("", None)
