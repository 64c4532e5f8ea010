"""Salesforce-shaped 18-character ids."""
from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# The middle of every id: a fixed "pod" part, then a zero-padded counter of digits only, so that
# ids sort the same way case-sensitively and not, and creation order is id order.
_POD = "5G0"
ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")


def checksum(id15: str) -> str:
    """The three-character case-safe suffix Salesforce appends to a 15-character id."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def make_id(prefix: str, number: int) -> str:
    """The 18-character id of the number-th record with this key prefix."""
    id15 = f"{prefix}{_POD}{number:09d}"
    return id15 + checksum(id15)


def to_18(record_id: str) -> str:
    """An 18-character id from a 15- or 18-character one."""
    return record_id if len(record_id) == 18 else record_id + checksum(record_id)


def looks_like_id(value: object) -> bool:
    """True for a 15- or 18-character alphanumeric string."""
    return isinstance(value, str) and bool(ID_PATTERN.match(value))
