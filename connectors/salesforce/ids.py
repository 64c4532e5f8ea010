"""Salesforce record ids: the case-sensitive 15-character form and the case-safe 18-character one."""
from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def to_18(salesforce_id: str) -> str:
    """The 18-character form of a 15-character id (the API's form); any other text unchanged.

    Each suffix character encodes which of five characters are upper case (Salesforce Help,
    "Salesforce record ID"), so the 18-character form survives case-insensitive tools.
    """
    if len(salesforce_id) != 15:
        return salesforce_id
    suffix = ""
    for start in (0, 5, 10):
        chunk = salesforce_id[start:start + 5]
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _SUFFIX_ALPHABET[bits]
    return salesforce_id + suffix
