"""The part of OData $filter a connector needs: comparisons, and/or/not, parentheses, contains/startswith/endswith.

Literals: 'text' (quotes doubled inside), numbers, true/false/null, GUIDs and DateTimeOffsets unquoted
(OData 4.0 ABNF, part 2 URL conventions; Dataverse examples in query/filter-rows.md). Anything else is refused
with an error naming what could not be parsed, so a client never gets a silently wrong page.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from connectors.sandbox_kit.clock import parse_iso_utc

from .api import INVALID_ARGUMENT, ApiError

TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][\w./]*)
)""", re.X)
COMPARISONS = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
               "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}
FUNCTIONS = {"contains": lambda a, b: b.lower() in a.lower(), "startswith": lambda a, b: a.lower().startswith(b.lower()),
             "endswith": lambda a, b: a.lower().endswith(b.lower())}


def _error(text: str) -> ApiError:
    return ApiError(400, INVALID_ARGUMENT, f"The $filter expression '{text}' could not be parsed: use comparisons "
                                           "(eq, ne, gt, ge, lt, le), and, or, not, parentheses and "
                                           "contains/startswith/endswith.")


def _tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            if text[position:].strip() == "":
                break
            raise _error(text)
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def _literal(kind: str, value: str) -> Any:
    if kind == "string":
        return value[1:-1].replace("''", "'")
    if kind == "number":
        return float(value) if "." in value else int(value)
    if kind == "datetime":
        return parse_iso_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind in ("guid",):
        return value.lower()
    if kind == "date":
        return value
    return {"true": True, "false": False, "null": None}[value]


class Filter:
    """A parsed $filter; matches(get) evaluates it with get(property path) -> value."""

    def __init__(self, text: str):
        self.text = text
        self._tokens = _tokens(text)
        self._at = 0
        self.tree = self._or()
        if self._at != len(self._tokens):
            raise _error(text)
        self.properties: set[str] = set()
        self._collect(self.tree)

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise _error(self.text)
        self._at += 1
        return token

    def _or(self):
        node = self._and()
        while self._peek() == ("word", "or"):
            self._take()
            node = ("or", node, self._and())
        return node

    def _and(self):
        node = self._unary()
        while self._peek() == ("word", "and"):
            self._take()
            node = ("and", node, self._unary())
        return node

    def _unary(self):
        if self._peek() == ("word", "not"):
            self._take()
            return ("not", self._unary())
        if self._peek() == ("punct", "("):
            self._take()
            node = self._or()
            if self._take() != ("punct", ")"):
                raise _error(self.text)
            return node
        kind, word = self._take()
        if kind != "word":
            raise _error(self.text)
        if word in FUNCTIONS:
            if self._take() != ("punct", "("):
                raise _error(self.text)
            prop_kind, prop = self._take()
            if prop_kind != "word" or self._take() != ("punct", ","):
                raise _error(self.text)
            lit_kind, literal = self._take()
            if lit_kind != "string" or self._take() != ("punct", ")"):
                raise _error(self.text)
            return ("call", word, prop, _literal(lit_kind, literal))
        op_kind, op = self._take()
        if op_kind != "word" or op not in COMPARISONS:
            raise _error(self.text)
        lit_kind, literal = self._take()
        if lit_kind == "word" and literal not in ("true", "false", "null"):
            raise _error(self.text)
        return ("cmp", op, word, _literal(lit_kind, literal))

    def _collect(self, node) -> None:
        if node[0] in ("and", "or"):
            self._collect(node[1])
            self._collect(node[2])
        elif node[0] == "not":
            self._collect(node[1])
        else:
            self.properties.add(node[2])

    def matches(self, get: Callable[[str], Any]) -> bool:
        return bool(self._eval(self.tree, get))

    def _eval(self, node, get) -> bool:
        kind = node[0]
        if kind == "and":
            return self._eval(node[1], get) and self._eval(node[2], get)
        if kind == "or":
            return self._eval(node[1], get) or self._eval(node[2], get)
        if kind == "not":
            return not self._eval(node[1], get)
        if kind == "call":
            value = get(node[2])
            return isinstance(value, str) and FUNCTIONS[node[1]](value, node[3])
        _, op, prop, literal = node
        value = get(prop)
        if isinstance(value, str) and isinstance(literal, str) and len(literal) == 36 and "-" in literal:
            value = value.lower()
        if op in ("eq", "ne"):
            return COMPARISONS[op](value, literal)
        if value is None or literal is None:
            return False
        try:
            return COMPARISONS[op](value, literal)
        except TypeError:
            raise ApiError(400, INVALID_ARGUMENT, f"The operator '{op}' cannot compare '{prop}' with "
                                                  f"{literal!r}.") from None
