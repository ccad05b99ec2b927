"""The runs filter language: free text, ``tag:x``, and comparisons over fields, config and metrics.

Examples: ``resnet``, ``tag:baseline``, ``lr < 1e-3 and status == finished``,
``layers[0] == 64 or not (train/loss > 0.5)``, ``name ~ sweep``. Terms written side by side are
joined with ``and``. A name resolves to a run field (status, name, project, group, id, tags, notes,
step, duration), then a config key (flattened: ``optim.lr``, ``layers[0]``; or ``config.lr``), then a
metric's last value (``train/loss``; or ``metric.train/loss``). A comparison with a missing side is
false, so ``lr < 1e-3`` simply leaves out runs without ``lr``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import flatten
from ..records import RunInfo

Predicate = Callable[["FilterRow"], bool]


class FilterError(ValueError):
    """A filter that does not parse; the message says where and what to write instead."""


@dataclass
class FilterRow:
    """A run prepared for filtering: its fields, flattened config and last metric values."""

    run: RunInfo
    config: dict[str, Any]

    @classmethod
    def of(cls, run: RunInfo, config: dict[str, Any] | None = None) -> FilterRow:
        """Prepare ``run``; ``config`` is its flattened config if the caller has it."""
        return cls(run, flatten(run.config) if config is None else config)

    def field(self, name: str) -> Any:
        """The value a name in a filter stands for, or None when the run has none."""
        run = self.run
        lowered = name.lower()
        if lowered in _FIELDS:
            return _FIELDS[lowered](run)
        if name in self.config:
            return self.config[name]
        if name in run.last:
            return run.last[name]
        for prefix, table in (("config.", self.config), ("metric.", run.last),
                              ("summary.", run.summary)):
            if name.startswith(prefix) and name[len(prefix):] in table:
                return table[name[len(prefix):]]
        return None

    def text(self) -> str:
        """What free text matches: id, name, project, group, status, tags and notes."""
        run = self.run
        return " ".join(
            [run.id, run.name, run.project, run.group or "", run.status, *run.tags, run.notes or ""]
        ).lower()


_FIELDS: dict[str, Callable[[RunInfo], Any]] = {
    "status": lambda r: r.status,
    "name": lambda r: r.name,
    "project": lambda r: r.project,
    "group": lambda r: r.group,
    "id": lambda r: r.id,
    "tags": lambda r: " ".join(r.tags),
    "notes": lambda r: r.notes,
    "step": lambda r: r.last_step,
    "duration": lambda r: r.duration,
    "host": lambda r: r.host,
}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lpar>\() | (?P<rpar>\)) |
        (?P<op><=|>=|==|!=|=|<|>|~) |
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*') |
        (?P<word>[^\s()<>=!~"']+)
    )""",
    re.VERBOSE,
)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "=": operator.eq, "!=": operator.ne,
}
_SHORTCUTS = ("tag", "project", "group", "status", "name")


def match_all(row: FilterRow) -> bool:
    """The empty filter (callers may skip preparing rows for it)."""
    return True


def compile_filter(source: str) -> Predicate:
    """Compile a filter; an empty one matches every run.

    Raises:
        FilterError: the filter does not parse.
    """
    tokens = _tokenize(source)
    if not tokens:
        return match_all
    parser = _Parser(tokens)
    pred = parser.expression()
    if parser.pos < len(tokens):
        raise FilterError(f"unexpected {tokens[parser.pos][1]!r} in filter; join terms with and/or")
    return pred


def _tokenize(source: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    source = source.strip()
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            raise FilterError(f"cannot read the filter at {source[pos:pos + 10]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent: or-expression of and-expressions of (not) terms."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("the filter ends too early; finish the comparison")
        self.pos += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].lower() == word

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self._keyword("or"):
            self.pos += 1
            right = self.conjunction()
            left = (lambda a, b: lambda row: a(row) or b(row))(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.unary()
        while True:
            if self._keyword("and"):
                self.pos += 1
            elif self.peek() is None or self._keyword("or") or self.peek()[0] == "rpar":
                return left
            right = self.unary()  # side by side means "and"
            left = (lambda a, b: lambda row: a(row) and b(row))(left, right)

    def unary(self) -> Predicate:
        if self._keyword("not"):
            self.pos += 1
            inner = self.unary()
            return lambda row: not inner(row)
        kind, text = self.take()
        if kind == "lpar":
            inner = self.expression()
            if self.take()[0] != "rpar":
                raise FilterError("a '(' in the filter is not closed")
            return inner
        if kind in ("rpar", "op"):
            raise FilterError(f"unexpected {text!r} in filter")
        value = _unquote(text) if kind == "str" else text
        nxt = self.peek()
        if kind == "word" and nxt is not None and nxt[0] == "op":
            self.pos += 1
            _, raw = self.take()
            if raw in ("(", ")"):
                raise FilterError(f"{value} {nxt[1]} needs a value after it")
            return _comparison(value, nxt[1], raw)
        if kind == "word" and ":" in value:
            head, _, arg = value.partition(":")
            if head.lower() in _SHORTCUTS:
                return _shortcut(head.lower(), arg)
        needle = value.lower()
        return lambda row: needle in row.text()


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _shortcut(head: str, arg: str) -> Predicate:
    arg = _unquote(arg) if arg[:1] in "\"'" else arg
    if head == "tag":
        return lambda row: arg in row.run.tags
    return lambda row: str(row.field(head) or "") == arg


def _literal(raw: str) -> Any:
    if raw[:1] in "\"'":
        return _unquote(raw)
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def _comparison(name: str, op: str, raw: str) -> Predicate:
    want = _literal(raw)
    if op == "~":
        needle = str(want).lower()
        return lambda row: needle in str(row.field(name) or "").lower()
    compare = _OPS[op]

    def check(row: FilterRow) -> bool:
        have = row.field(name)
        if have is None or want is None:
            return compare(have, want) if op in ("==", "=", "!=") else False
        if _is_number(have) and _is_number(want):
            if isinstance(have, float) and math.isnan(have):
                return op == "!="
            return bool(compare(float(have), float(want)))
        if op in ("==", "=", "!="):
            return bool(compare(str(have), str(want)))
        return False  # ordering a string against a number: no match, no error

    return check


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))  # bool counts: `amp == true` and `amp == 1` agree
