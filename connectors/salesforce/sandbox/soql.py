"""A SOQL subset, parsed and compiled to SQLite against the sandbox tables.

Supported: SELECT f1, f2 | COUNT() FROM Object [WHERE ...] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]. WHERE has AND, OR, NOT, parentheses, = != <> < > <= >= IN NOT IN LIKE and
literals: 'strings' with backslash escapes, numbers, true/false/null, dates (2017-01-01) and
datetimes with a zone (2017-01-01T00:00:00Z, 2017-01-01T00:00:00.000+0000).
Child-to-parent relationship fields (``Profile.Name`` on User; SOQL and SOSL Reference, "Relationship
Queries") may be selected and filtered on, one level deep, through a reference with one target.
A field the user may not see (field-level security) is refused as if it did not exist, and an
object the org does not have (a feature object with its feature off) as an unsupported type.

Over 300 lines because it is one parser, tokenizer to SQL, whose pieces only make sense together.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from .clock import parse_datetime
from .ids import looks_like_id, to_18
from .schema import NUMBER_TYPES, TEXT_TYPES, canonical_object, has_is_deleted, reference_targets, relationship_name
from .security import SYSTEM_ACCESS, FieldAccess
from .store import Store

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[-+]?\d+(?:\.\d+)?(?![\w-]))
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


class SoqlError(Exception):
    """A query Salesforce would refuse, with its errorCode."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Token:
    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class Relation:
    """A parent field selected through a relationship: Profile.Name is (Profile, ProfileId, Profile, Name)."""

    name: str       # the relationship as written in the query (Profile)
    reference: str  # the reference field on the queried object (ProfileId)
    target: str     # the parent object (Profile)
    field: str      # the parent's field (Name)


@dataclass
class CompiledQuery:
    """What the store runs: object, selected fields and SQL fragments."""

    object_name: str
    fields: list[str]
    count_only: bool
    where: str
    params: list[Any]
    order: str
    limit: int | None
    offset: int
    # Selected parent fields, in the order asked for (after the object's own fields).
    relations: list[Relation] = None  # type: ignore[assignment]


def tokenize(soql: str) -> list[Token]:
    """Split a query into tokens; anything unknown is a MALFORMED_QUERY."""
    tokens, position = [], 0
    while position < len(soql):
        match = _TOKEN.match(soql, position)
        if not match:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{soql[position:position + 20]}' "
                                               f"at column {position + 1}")
        if match.lastgroup != "ws":
            tokens.append(Token(match.lastgroup, match.group(), position))
        position = match.end()
    return tokens


def unescape(raw: str, like: bool = False) -> str:
    """The value of a quoted literal; LIKE keeps \\% and \\_ escaped for SQLite's ESCAPE."""
    out, index = [], 0
    body = raw[1:-1]
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            if nxt in "%_":
                out.append(("\\" + nxt) if like else nxt)
            elif nxt in _ESCAPES:
                out.append("\\\\" if like and nxt == "\\" else _ESCAPES[nxt])
            else:
                raise SoqlError("MALFORMED_QUERY", f"Invalid string literal {raw}: illegal escape sequence")
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


class _Parser:
    def __init__(self, soql: str, store: Store, include_deleted: bool, access: FieldAccess,
                 available: Any):
        self.soql = soql
        self.tokens = tokenize(soql)
        self.index = 0
        self.store = store
        self.include_deleted = include_deleted
        self.access = access
        self.available = available
        self.params: list[Any] = []
        self.object_name = ""

    # -- token helpers ------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token | None:
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.upper() in words

    def take(self, kind: str | None = None, text: str | None = None) -> Token:
        token = self.peek()
        if token is None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected end of query, expected {text or kind}")
        if (kind and token.kind != kind) or (text and token.text.upper() != text):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}' at column {token.position + 1}")
        self.index += 1
        return token

    # -- grammar ------------------------------------------------------------------------------

    def parse(self) -> CompiledQuery:
        self.take("word", "SELECT")
        selected: list[Token] = []
        count_only = False
        if self.keyword("COUNT") and self.peek(1) and self.peek(1).text == "(":
            self.index += 1
            self.take("punct", "(")
            self.take("punct", ")")
            count_only = True
        else:
            selected.append(self.take("word"))
            while self.peek() and self.peek().text == ",":
                self.index += 1
                selected.append(self.take("word"))
        self.take("word", "FROM")
        object_token = self.take("word")
        object_name = canonical_object(object_token.text)
        if object_name is None or not self.available(object_name):
            raise SoqlError("INVALID_TYPE", f"sObject type '{object_token.text}' is not supported. If you are "
                            "attempting to use a custom object, be sure to append the '__c' after the entity name.")
        self.object_name = object_name
        fields: list[str] = []
        relations: list[Relation] = []
        for token in selected:
            if "." in token.text:
                relation = self.relation(token)
                if relation in relations:
                    raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {token.text}")
                relations.append(relation)
                continue
            name = self.field(token).name
            if name in fields:
                raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {name}")
            fields.append(name)
        where = "1=1"
        if self.keyword("WHERE"):
            self.index += 1
            where = self.disjunction()
        # Objects without IsDeleted are hard-deleted: queryAll does not bring their deleted rows back.
        if not self.include_deleted or not has_is_deleted(object_name):
            where = f'({where}) AND "IsDeleted" = 0'
        order = ""
        if self.keyword("ORDER"):
            self.index += 1
            self.take("word", "BY")
            order = self.order_list()
        limit, offset = None, 0
        if self.keyword("LIMIT"):
            self.index += 1
            limit = self.integer()
        if self.keyword("OFFSET"):
            self.index += 1
            offset = self.integer()
        if self.peek() is not None:
            token = self.peek()
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}' at column {token.position + 1}")
        return CompiledQuery(object_name, fields, count_only, where, self.params,
                             (order + ", " if order else "") + "rowid", limit, offset, relations)

    def integer(self) -> int:
        token = self.take("number")
        if not token.text.isdigit():
            raise SoqlError("MALFORMED_QUERY", f"expected a non-negative integer, got {token.text}")
        return int(token.text)

    def field(self, token: Token, object_name: str | None = None):
        object_name = object_name or self.object_name
        name = token.text.rpartition(".")[2] if object_name != self.object_name else token.text
        found = self.store.field(object_name, name)
        if found is None or not self.access.can_read(object_name, found.name, found.custom):
            raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{object_name}'. "
                            "If you are attempting to use a custom field, be sure to append the '__c' after the "
                            "custom field name. Please reference your WSDL or the describe call for the "
                            "appropriate names.")
        return found

    def relation(self, token: Token) -> Relation:
        """A parent field reached through a reference of the queried object (one level, one target)."""
        name, _, parent_field = token.text.partition(".")
        reference = next((f for f in self.store.fields(self.object_name)
                          if f.type == "reference" and (relationship_name(f.name) or "").lower() == name.lower()),
                         None)
        targets = reference_targets(self.object_name, reference.name) if reference else ()
        if reference is None or "." in parent_field or len(targets) != 1 or not self.available(targets[0]):
            raise SoqlError("INVALID_FIELD", f"Didn't understand relationship '{name}' in field path. If you are "
                            "attempting to use a custom relationship, be sure to append the '__r' after the custom "
                            "relationship name. Please reference your WSDL or the describe call for the "
                            "appropriate names.")
        field = self.field(Token("word", parent_field, token.position), targets[0])
        return Relation(relationship_name(reference.name), reference.name, targets[0], field.name)

    def order_list(self) -> str:
        parts = []
        while True:
            name = self.field(self.take("word")).name
            direction = "ASC"
            if self.keyword("ASC", "DESC"):
                direction = self.take().text.upper()
            nulls = "FIRST" if direction == "ASC" else "LAST"
            if self.keyword("NULLS"):
                self.index += 1
                if not self.keyword("FIRST", "LAST"):
                    self.take("word", "FIRST")
                nulls = self.take().text.upper()
            parts.append(f'"{name}" {direction} NULLS {nulls}')
            if not (self.peek() and self.peek().text == ","):
                return ", ".join(parts)
            self.index += 1

    def disjunction(self) -> str:
        parts = [self.conjunction()]
        while self.keyword("OR"):
            self.index += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def conjunction(self) -> str:
        parts = [self.negation()]
        while self.keyword("AND"):
            self.index += 1
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def negation(self) -> str:
        if self.keyword("NOT"):
            self.index += 1
            return f"(NOT {self.negation()})"
        if self.peek() and self.peek().text == "(":
            self.index += 1
            inner = self.disjunction()
            self.take("punct", ")")
            return f"({inner})"
        return self.comparison()

    def comparison(self) -> str:
        token = self.take("word")
        if "." in token.text:
            relation = self.relation(token)
            field = self.store.field(relation.target, relation.field)
            column = (f'(SELECT "{relation.field}" FROM "{relation.target}" AS parent '
                      f'WHERE parent."Id" = "{self.object_name}"."{relation.reference}")')
        else:
            field = self.field(token)
            column = f'"{field.name}"'
        negated = False
        if self.keyword("NOT") and self.peek(1) and self.peek(1).text.upper() == "IN":
            self.index += 1
            negated = True
        if self.keyword("IN"):
            self.index += 1
            self.take("punct", "(")
            values = [self.literal(field)]
            while self.peek() and self.peek().text == ",":
                self.index += 1
                values.append(self.literal(field))
            self.take("punct", ")")
            present = [v for v in values if v is not None]
            self.params.extend(present)
            listed = f"{column} {'NOT IN' if negated else 'IN'} ({', '.join('?' for _ in present)})"
            if negated:
                return f"({column} IS NOT NULL AND {listed})" if None in values else f"({column} IS NULL OR {listed})"
            return f"({column} IS NULL OR {listed})" if None in values else listed
        if self.keyword("LIKE"):
            self.index += 1
            token = self.take("string")
            if field.type not in TEXT_TYPES:
                raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on {field.type} field: "
                                f"{field.name} LIKE")
            self.params.append(unescape(token.text, like=True))
            return f"{column} LIKE ? ESCAPE '\\'"
        operator = self.take("op").text
        value = self.literal(field)
        if value is None:
            if operator == "=":
                return f"{column} IS NULL"
            if operator in ("!=", "<>"):
                return f"{column} IS NOT NULL"
            raise SoqlError("MALFORMED_QUERY", f"null can only be compared with = or != ({field.name})")
        self.params.append(value)
        if operator in ("!=", "<>"):
            return f"({column} IS NULL OR {column} != ?)"
        return f"{column} {operator} ?"

    def literal(self, field) -> Any:
        token = self.take()
        kind, text = token.kind, token.text
        if kind == "word" and text.lower() == "null":
            return None
        mismatch = SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"value of filter criterion for field "
                             f"'{field.name}' must be of type {field.type} and should not be enclosed in quotes"
                             if kind == "string" else f"value of filter criterion for field '{field.name}' "
                             f"must be of type {field.type}: {text}")
        if field.type in TEXT_TYPES:
            if kind != "string":
                if kind in ("punct", "op"):
                    raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}' at column {token.position + 1}")
                raise mismatch
            value = unescape(text)
            return to_18(value) if field.type in ("id", "reference") and looks_like_id(value) else value
        if field.type == "boolean":
            if kind == "word" and text.lower() in ("true", "false"):
                return int(text.lower() == "true")
            raise mismatch
        if field.type in NUMBER_TYPES:
            if kind != "number":
                raise mismatch
            return float(text) if "." in text else int(text)
        if field.type == "date":
            if kind != "date":
                raise mismatch
            return date.fromisoformat(text).isoformat()
        if field.type == "datetime":
            if kind == "date":
                raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"value of filter criterion for field "
                                f"'{field.name}' must be of type dateTime: {text}")
            if kind != "datetime":
                raise mismatch
            try:
                moment = parse_datetime(text)
            except ValueError:
                raise SoqlError("MALFORMED_QUERY", f"invalid datetime literal: {text}") from None
            return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
        raise mismatch


def compile_soql(soql: str, store: Store, include_deleted: bool = False, access: FieldAccess = SYSTEM_ACCESS,
                 available: Any = lambda _name: True) -> CompiledQuery:
    """Parse a SOQL string and compile it against the store's tables, as one user sees them."""
    if not soql or not soql.strip():
        raise SoqlError("MALFORMED_QUERY", "The query is empty: pass the SOQL in the q parameter.")
    return _Parser(soql, store, include_deleted, access, available).parse()
