"""The runs filter language: free text, ``tag:x``, and comparisons over fields, config and metrics.

Examples: ``resnet``, ``tag:baseline``, ``lr < 1e-3 and status == finished``,
``layers[0] == 64 or not (train/loss > 0.5)``, ``name ~ sweep``. Terms written side by side are
joined with ``and``. A name resolves to a run field (status, name, project, group, id, tags, notes,
step, duration), then a config key (flattened: ``optim.lr``, ``layers[0]``; or ``config.lr``), then a
metric's last value (``train/loss``; or ``metric.train/loss``). A comparison with a missing side is
false, so ``lr < 1e-3`` simply leaves out runs without ``lr``.

The parser and the predicates it builds never recurse deeper than the filter's nesting of
parentheses and ``not``, which is bounded (``MAX_DEPTH``): a pasted filter of thousands of terms is
one flat ``and``/``or`` list, and one nested too deep is an error, never a RecursionError.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..format import flatten
from ..records import RunInfo

Predicate = Callable[["FilterRow"], bool]

MAX_DEPTH = 50  # nested parentheses and `not`s
MAX_TERMS = 2000  # terms in one filter

# Shown by the help screen: plain text (the module docstring above is reStructuredText).
HELP = (
    "Free text matches id, name, project, group, status, tags and notes. tag:baseline, "
    "project:mnist, status:running are shortcuts. Comparisons work on run fields (status, name, "
    "project, group, step, duration), config keys (lr, optim.name, layers[0], or config.lr) and "
    "the last value of a metric (train/loss, or metric.train/loss). Operators: < <= > >= == != "
    "and ~ (contains); combine with and, or, not and parentheses; terms side by side are joined "
    "with and. A run without the key never matches a comparison on it.\n"
    "Examples:  lr < 1e-3 and status == finished    tag:baseline or (project == cifar and "
    "train/acc > 0.9)    name ~ sweep"
)


class FilterError(ValueError):
    """A filter that does not parse; the message says what is wrong, where, and what to write.

    ``position`` is the 0-based offset in the filter text where the problem is (None: the end).
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


@dataclass
class FilterRow:
    """A run prepared for filtering: its fields, flattened config and last metric values."""

    run: RunInfo
    config: dict[str, Any]
    _text: str | None = field(default=None, repr=False)

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
        """What free text matches: id, name, project, group, status (with 'damaged' when the
        stored row is, as the status column says), tags and notes."""
        if self._text is None:  # once per run: a filter may hold many free-text terms
            run = self.run
            self._text = " ".join([run.id, run.name, run.project, run.group or "", run.status,
                                   "damaged" if run.damaged else "", *run.tags,
                                   run.notes or ""]).lower()
        return self._text


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
_ORDERING = ("<", "<=", ">", ">=")
_SHORTCUTS = ("tag", "project", "group", "status", "name")


@dataclass(frozen=True)
class _Token:
    kind: str  # lpar | rpar | op | str | word
    text: str
    pos: int  # 0-based offset in the filter text


def match_all(row: FilterRow) -> bool:
    """The empty filter (callers may skip preparing rows for it)."""
    return True


def compile_filter(source: str) -> Predicate:
    """Compile a filter; an empty one matches every run.

    Raises:
        FilterError: the filter does not parse, or is too complex.
    """
    tokens = _tokenize(source)
    if not tokens:
        return match_all
    parser = _Parser(tokens, len(source.rstrip()))
    pred = parser.expression(0)
    token = parser.peek()
    if token is not None:  # expression() stops only at a ')' it did not open
        raise FilterError(f"unexpected ')' at position {token.pos + 1}: no '(' to close",
                          token.pos)
    return pred


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos, end = 0, len(source.rstrip())
    while pos < end:
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            at = len(source) - len(source[pos:].lstrip())
            char = source[at]
            if char in "\"'":
                raise FilterError(f"the quote at position {at + 1} is not closed; add {char}", at)
            if char == "!":
                raise FilterError(f"'!' at position {at + 1}: write != to compare, or not", at)
            raise FilterError(f"cannot read the filter at position {at + 1} "
                              f"({source[at:at + 10]!r})", at)
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        if len(tokens) > 3 * MAX_TERMS:
            raise FilterError(f"the filter is too long: at most {MAX_TERMS} terms", None)
        pos = match.end()
    return tokens


class _Parser:
    """Precedence climbing over or / and / not; ``and``/``or`` chains become flat lists.

    Python recursion happens only for parentheses and ``not``, each counted against MAX_DEPTH.
    """

    def __init__(self, tokens: list[_Token], length: int) -> None:
        self.tokens = tokens
        self.length = length  # where "the end" is, for messages
        self.pos = 0
        self.terms = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.lower() == word

    def _ends_after(self, token: _Token, what: str) -> FilterError:
        return FilterError(f"the filter ends after {token.text!r} at position {token.pos + 1}; "
                           f"{what}", None)

    def expression(self, depth: int) -> Predicate:
        """Terms joined by ``or`` (stops at the end or at a ')')."""
        alternatives = [self.conjunction(depth)]
        while self._keyword("or"):
            keyword = self.tokens[self.pos]
            self.pos += 1
            if self.peek() is None:
                raise self._ends_after(keyword, "add a term after it")
            alternatives.append(self.conjunction(depth))
        if len(alternatives) == 1:
            return alternatives[0]
        return lambda row: any(p(row) for p in alternatives)

    def conjunction(self, depth: int) -> Predicate:
        """Terms joined by ``and`` or written side by side."""
        terms = [self.unary(depth)]
        while True:
            token = self.peek()
            if token is None or token.kind == "rpar" or self._keyword("or"):
                break
            if self._keyword("and"):
                self.pos += 1
                if self.peek() is None:
                    raise self._ends_after(token, "add a term after it")
            terms.append(self.unary(depth))
        if len(terms) == 1:
            return terms[0]
        return lambda row: all(p(row) for p in terms)

    def _deeper(self, depth: int, token: _Token) -> int:
        if depth >= MAX_DEPTH:
            raise FilterError(f"the filter nests parentheses and 'not' more than {MAX_DEPTH} "
                              f"deep (at position {token.pos + 1}); simplify it", token.pos)
        return depth + 1

    def unary(self, depth: int) -> Predicate:
        token = self.peek()
        if token is None:  # callers check for the end before asking for a term
            raise FilterError("the filter ends too early; finish it", None)
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise FilterError(f"the filter is too complex: at most {MAX_TERMS} terms",
                              token.pos)
        self.pos += 1
        if token.kind == "word" and token.text.lower() == "not":
            if self.peek() is None:
                raise self._ends_after(token, "add a term after it")
            inner = self.unary(self._deeper(depth, token))
            return lambda row: not inner(row)
        if token.kind == "lpar":
            if self.peek() is None:
                raise FilterError(f"the '(' at position {token.pos + 1} is not closed; "
                                  "add a term and ')'", token.pos)
            inner = self.expression(self._deeper(depth, token))
            close = self.peek()
            if close is None:
                raise FilterError(f"the '(' at position {token.pos + 1} is not closed; add ')'",
                                  token.pos)
            self.pos += 1  # expression() stops only at the end or at a ')'
            return inner
        if token.kind == "rpar":
            raise FilterError(f"unexpected ')' at position {token.pos + 1}: "
                              "no term before it", token.pos)
        if token.kind == "op":
            raise FilterError(f"unexpected {token.text!r} at position {token.pos + 1}: a "
                              "comparison needs a name before it, e.g. lr < 0.01", token.pos)
        nxt = self.peek()
        if nxt is not None and nxt.kind == "op":
            if token.kind != "word":
                raise FilterError(f"unexpected {nxt.text!r} at position {nxt.pos + 1}: compare "
                                  "a name, not quoted text, e.g. name == \"a b\"", nxt.pos)
            return self._comparison(token, nxt)
        value = _unquote(token.text) if token.kind == "str" else token.text
        if token.kind == "word" and ":" in value:
            head, _, arg = value.partition(":")
            if head.lower() in _SHORTCUTS:
                return _shortcut(head.lower(), arg)
        needle = value.lower()
        return lambda row: needle in row.text()

    def _comparison(self, name: _Token, op: _Token) -> Predicate:
        self.pos += 1
        raw = self.peek()
        if raw is None:
            raise self._ends_after(op, f"finish the comparison with a value, e.g. "
                                       f"{name.text} {op.text} 0.01")
        if raw.kind not in ("word", "str"):
            raise FilterError(f"{op.text!r} at position {op.pos + 1} needs a value after it, "
                              f"not {raw.text!r}; finish the comparison", raw.pos)
        self.pos += 1
        want = _literal(raw.text)
        if op.text in _ORDERING and not _is_number(want):
            raise FilterError(f"{raw.text!r} at position {raw.pos + 1} is not a number: "
                              f"{op.text!r} compares numbers (use == or ~ for text)", raw.pos)
        return _comparison(name.text, op.text, want)


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


def _comparison(name: str, op: str, want: Any) -> Predicate:
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
