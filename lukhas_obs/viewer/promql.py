"""A small PromQL evaluator over the viewer's in-memory history: exactly what the shipped dashboards use.

The viewer renders the catalogs' dashboards from the same PromQL the generated Grafana dashboards carry
(:func:`lukhas_obs.generate.dashboards.panel_queries`). With a Prometheus or VictoriaMetrics URL that PromQL goes to
``/api/v1/query_range``; without one it is evaluated here, on the bounded history of scrapes the viewer keeps, so the
two agree on the same data. Covered, with Prometheus 2.42's semantics:

- vector selectors with ``=``, ``!=``, ``=~``, ``!~`` matchers (5-minute lookback, staleness when a series leaves a
  scrape) and range selectors ``[5m]`` as function arguments;
- ``rate``, ``increase``, ``delta`` (Prometheus' extrapolation, counter resets), ``irate``, ``deriv``,
  ``avg_over_time``, ``max_over_time``, ``min_over_time``, ``sum_over_time``, ``count_over_time``;
- ``histogram_quantile`` (linear interpolation inside the bucket, Prometheus' edge cases);
- ``sum``, ``avg``, ``min``, ``max``, ``count`` with ``by (...)`` / ``without (...)``, before or after the argument;
- arithmetic ``+ - * / % ^`` between scalars, between a vector and a scalar, and one-to-one between two vectors
  (matching on every label but the metric name), unary minus, parentheses, number literals.

Anything else (other functions, comparisons, ``and``/``or``/``unless``, ``on``/``ignoring``/``group_left``,
``offset``, ``@``, subqueries, ``topk``, ...) raises :class:`Unsupported`, whose message says what needs Prometheus.

Evaluation is vectorised over the steps of a range query: every node returns one value per step, so a range query
costs one pass over the history per selector (windows found by bisection, sums by prefix sums), not one per step.
The parser is iterative where input could be deep and bounded in length and depth, so a hostile expression costs
little and never recurses without bound.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "AGGREGATIONS",
    "FUNCTIONS",
    "LOOKBACK_S",
    "MAX_EXPR_CHARS",
    "EvalResult",
    "ParseError",
    "SeriesData",
    "Unsupported",
    "evaluate",
    "parse",
    "parse_duration",
    "substitute_variables",
    "support_problem",
]

#: Prometheus' default lookback for instant vector selectors (``--query.lookback-delta``).
LOOKBACK_S = 300.0
#: Longest expression accepted (the shipped ones are under 200 characters).
MAX_EXPR_CHARS = 4096
#: Deepest nesting of parentheses, calls and operators accepted.
MAX_DEPTH = 64

#: Functions over a range vector: the ones the shipped dashboards use and their close relatives.
RANGE_FUNCTIONS = (
    "rate", "increase", "delta", "irate", "deriv",
    "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "count_over_time",
)  # fmt: skip
FUNCTIONS: tuple[str, ...] = (*RANGE_FUNCTIONS, "histogram_quantile")
AGGREGATIONS: tuple[str, ...] = ("sum", "avg", "min", "max", "count")
#: Words a PromQL reader knows but this evaluator does not do: named in the "needs Prometheus" message.
_KNOWN_UNSUPPORTED_AGGREGATIONS = ("stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group")
_ARITHMETIC = ("+", "-", "*", "/", "%", "^")
_COMPARISON = ("==", "!=", ">=", "<=", ">", "<")
_SET_OPS = ("and", "or", "unless")
_PRECEDENCE = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, ">=": 3, "<=": 3, ">": 3, "<": 3,
               "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "^": 6}  # fmt: skip

_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\[\]]*\])
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|==|!=|>=|<=|[-+*/%^(){},=<>@])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


class ParseError(ValueError):
    """The expression is not PromQL this module can read (the message says where)."""


class Unsupported(ValueError):
    """Valid PromQL outside the small evaluator: the message names the construct that needs Prometheus."""


# ------------------------------------------------------------------------------------------------------- lexing


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokens(expr: str) -> list[_Token]:
    if not isinstance(expr, str):
        raise ParseError("an expression must be text")
    if len(expr) > MAX_EXPR_CHARS:
        raise ParseError(f"expression longer than {MAX_EXPR_CHARS} characters")
    out = []
    for match in _TOKEN_RE.finditer(expr):
        kind = match.lastgroup or "other"
        if kind == "space":
            continue
        if kind == "other":
            if match.group() == "#":
                raise ParseError("comments are not supported")
            raise ParseError(f"unexpected character at position {match.start()}")
        out.append(_Token(kind, match.group(), match.start()))
    return out


def _unquote(text: str) -> str:
    """The value of a PromQL string literal (Go escapes: ``\\"``, ``\\\\``, ``\\n``, ``\\t``, ``\\uXXXX``...)."""
    quote, body = text[0], text[1:-1]
    if quote == "`":
        return body
    out: list[str] = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
              "v": "\v"}  # fmt: skip
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt in ("u", "U", "x"):
            width = {"u": 4, "U": 8, "x": 2}[nxt]
            digits = body[i + 2 : i + 2 + width]
            try:
                out.append(chr(int(digits, 16)))
            except (ValueError, OverflowError):
                raise ParseError("invalid escape in a string") from None
            i += 2 + width
        else:
            raise ParseError("invalid escape in a string")
    return "".join(out)


def parse_duration(text: str) -> float:
    """Seconds of a Prometheus duration (``5m``, ``1h30m``, ``250ms``); ParseError otherwise."""
    match = _DURATION_RE.match(text) if isinstance(text, str) and text and len(text) <= 40 else None
    if match is None or not any(match.groups()):
        raise ParseError(f"not a duration: {str(text)[:40]!r}")
    return sum(int(g) * unit for g, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if g)


def _go_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_VARIABLE_RE = re.compile(r"\$(?:\{([a-zA-Z_][a-zA-Z0-9_]*)\}|([a-zA-Z_][a-zA-Z0-9_]*))")


def substitute_variables(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with every dashboard variable (``$lane``, ``${lane}``) inside a string literal replaced.

    The value is escaped for where it lands: as literal text in a regular-expression matcher (``=~``/``!~``), then as
    PromQL string content, so a label value holding ``"``, ``\\`` or ``.*`` cannot change the query. A variable the
    mapping does not hold raises ParseError (it would otherwise match nothing, silently).
    """
    tokens = _tokens(expr)
    out: list[str] = []
    last = 0
    for index, token in enumerate(tokens):
        if token.kind != "string" or "$" not in token.text:
            continue
        previous = tokens[index - 1].text if index else ""
        regex = previous in ("=~", "!~")
        raw = _unquote(token.text)

        def replace(match: re.Match[str], regex: bool = regex) -> str:
            name = match.group(1) or match.group(2)
            if name not in values:
                raise ParseError(f"unknown dashboard variable ${name}")
            value = str(values[name])
            return re.escape(value) if regex else value

        out.append(expr[last : token.pos])
        out.append(_go_quote(_VARIABLE_RE.sub(replace, raw)))
        last = token.pos + len(token.text)
    out.append(expr[last:])
    return "".join(out)


# ------------------------------------------------------------------------------------------------------- syntax


@dataclass(frozen=True)
class Matcher:
    """A label matcher; ``regex`` is compiled (anchored, as Prometheus anchors them) for ``=~``/``!~``."""

    name: str
    op: str
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        assert self.regex is not None
        found = self.regex.fullmatch(have) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class NumberNode:
    value: float


@dataclass(frozen=True)
class StringNode:
    value: str


@dataclass(frozen=True)
class SelectorNode:
    name: str | None
    matchers: tuple[Matcher, ...]
    range_s: float | None = None


@dataclass(frozen=True)
class CallNode:
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class AggregateNode:
    op: str
    expr: Node
    by: tuple[str, ...] | None = None
    without: tuple[str, ...] | None = None


@dataclass(frozen=True)
class BinaryNode:
    op: str
    lhs: Node
    rhs: Node


@dataclass(frozen=True)
class NegateNode:
    expr: Node


Node = NumberNode | StringNode | SelectorNode | CallNode | AggregateNode | BinaryNode | NegateNode


class _Parser:
    def __init__(self, expr: str) -> None:
        self.tokens = _tokens(expr)
        self.i = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> _Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None:
            raise ParseError("unexpected end of expression" + (f", expected {text!r}" if text else ""))
        if text is not None and token.text != text:
            raise ParseError(f"expected {text!r} at position {token.pos}, found {token.text[:20]!r}")
        self.i += 1
        return token

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError(f"expression nested deeper than {MAX_DEPTH}")

    def parse(self) -> Node:
        if not self.tokens:
            raise ParseError("empty expression")
        node = self.binary(0)
        token = self.peek()
        if token is not None:
            raise ParseError(f"unexpected {token.text[:20]!r} at position {token.pos}")
        return node

    def binary(self, min_precedence: int) -> Node:
        self.enter()
        lhs = self.unary()
        while True:
            token = self.peek()
            if token is None:
                break
            op = token.text.lower() if token.kind == "ident" else token.text
            precedence = _PRECEDENCE.get(op) if token.kind in ("op", "ident") else None
            if precedence is None or precedence < min_precedence:
                break
            self.i += 1
            if op in _COMPARISON:
                raise Unsupported(f"comparison {op!r} needs Prometheus")
            if op in _SET_OPS:
                raise Unsupported(f"set operator {op!r} needs Prometheus")
            following = self.peek()
            if following is not None and following.kind == "ident":
                word = following.text.lower()
                if word in ("on", "ignoring", "group_left", "group_right", "bool"):
                    raise Unsupported(f"vector matching modifier {word!r} needs Prometheus")
            # ^ is right-associative, every other operator left-associative
            rhs = self.binary(precedence if op == "^" else precedence + 1)
            lhs = BinaryNode(op, lhs, rhs)
        self.depth -= 1
        return lhs

    def unary(self) -> Node:
        token = self.peek()
        if token is not None and token.text in ("-", "+"):
            self.i += 1
            self.enter()
            inner = self.binary(_PRECEDENCE["^"])  # -a^b is -(a^b), as in Prometheus
            self.depth -= 1
            return NegateNode(inner) if token.text == "-" else inner
        node = self.primary()
        return self.postfix(node)

    def postfix(self, node: Node) -> Node:
        token = self.peek()
        while token is not None:
            if token.kind == "range":
                if not isinstance(node, SelectorNode) or node.range_s is not None:
                    if ":" in token.text:
                        raise Unsupported("subqueries ([range:step]) need Prometheus")
                    raise ParseError(f"a range can only follow a vector selector (position {token.pos})")
                body = token.text[1:-1].strip()
                if ":" in body:
                    raise Unsupported("subqueries ([range:step]) need Prometheus")
                node = SelectorNode(node.name, node.matchers, parse_duration(body))
            elif token.kind == "ident" and token.text.lower() == "offset":
                raise Unsupported("the offset modifier needs Prometheus")
            elif token.text == "@":
                raise Unsupported("the @ modifier needs Prometheus")
            else:
                break
            self.i += 1
            token = self.peek()
        return node

    def primary(self) -> Node:
        token = self.take()
        if token.text == "(":
            self.enter()
            inner = self.binary(0)
            self.take(")")
            self.depth -= 1
            return inner
        if token.kind == "number":
            return NumberNode(float(int(token.text, 16)) if token.text.lower().startswith("0x") else float(token.text))
        if token.kind == "string":
            return StringNode(_unquote(token.text))
        if token.text == "{":
            return SelectorNode(None, self.matchers())
        if token.kind != "ident":
            raise ParseError(f"unexpected {token.text[:20]!r} at position {token.pos}")
        word = token.text
        lowered = word.lower()
        nxt = self.peek()
        if lowered in ("inf", "nan") and (nxt is None or nxt.text not in ("(", "{")):
            return NumberNode(math.inf if lowered == "inf" else math.nan)
        aggregation = lowered in AGGREGATIONS or lowered in _KNOWN_UNSUPPORTED_AGGREGATIONS
        if aggregation and nxt is not None and (nxt.text == "(" or nxt.text.lower() in ("by", "without")):
            return self.aggregate(lowered)
        if nxt is not None and nxt.text == "(":
            return self.call(word)
        matchers = self.matchers() if nxt is not None and nxt.text == "{" else ()
        return SelectorNode(word, matchers)

    def labels(self) -> tuple[str, ...]:
        self.take("(")
        names: list[str] = []
        while True:
            token = self.take()
            if token.text == ")":
                break
            if token.kind != "ident":
                raise ParseError(f"expected a label name at position {token.pos}")
            names.append(token.text)
            token = self.take()
            if token.text == ")":
                break
            if token.text != ",":
                raise ParseError(f"expected ',' or ')' at position {token.pos}")
        return tuple(names)

    def aggregate(self, op: str) -> Node:
        if op in _KNOWN_UNSUPPORTED_AGGREGATIONS:
            raise Unsupported(f"aggregation {op!r} needs Prometheus")
        by: tuple[str, ...] | None = None
        without: tuple[str, ...] | None = None

        def modifier() -> None:
            nonlocal by, without
            token = self.peek()
            if token is not None and token.kind == "ident" and token.text.lower() in ("by", "without"):
                self.i += 1
                names = self.labels()
                if token.text.lower() == "by":
                    by = names
                else:
                    without = names

        modifier()
        self.take("(")
        self.enter()
        inner = self.binary(0)
        token = self.peek()
        if token is not None and token.text == ",":
            raise Unsupported(f"a parameter to {op!r} needs Prometheus")
        self.take(")")
        self.depth -= 1
        if by is None and without is None:
            modifier()
        return AggregateNode(op, inner, by, without)

    def call(self, name: str) -> Node:
        if name not in FUNCTIONS:
            raise Unsupported(f"function {name}() needs Prometheus")
        self.take("(")
        self.enter()
        args: list[Node] = []
        token = self.peek()
        if token is not None and token.text == ")":
            self.i += 1
        else:
            while True:
                args.append(self.binary(0))
                token = self.take()
                if token.text == ")":
                    break
                if token.text != ",":
                    raise ParseError(f"expected ',' or ')' at position {token.pos}")
        self.depth -= 1
        return CallNode(name, tuple(args))

    def matchers(self) -> tuple[Matcher, ...]:
        self.take("{")
        out: list[Matcher] = []
        while True:
            token = self.take()
            if token.text == "}":
                break
            if token.kind != "ident":
                raise ParseError(f"expected a label name at position {token.pos}")
            op = self.take().text
            if op not in ("=", "!=", "=~", "!~"):
                raise ParseError(f"expected a matcher operator after {token.text[:40]!r}")
            value_token = self.take()
            if value_token.kind != "string":
                raise ParseError(f"expected a string at position {value_token.pos}")
            value = _unquote(value_token.text)
            regex = None
            if op in ("=~", "!~"):
                try:
                    regex = re.compile(value, re.DOTALL)
                except re.error:
                    raise ParseError(f"invalid regular expression for label {token.text[:40]!r}") from None
            out.append(Matcher(token.text, op, value, regex))
            token = self.take()
            if token.text == "}":
                break
            if token.text != ",":
                raise ParseError(f"expected ',' or '}}' at position {token.pos}")
        return tuple(out)


def parse(expr: str) -> Node:
    """The syntax tree of ``expr``; ParseError when it is not PromQL, Unsupported when it needs Prometheus."""
    node = _Parser(expr).parse()
    _check(node)
    return node


def _check(node: Node) -> None:
    """Types and arities, before any data is touched (so an unsupported query is known from the dashboard)."""
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, SelectorNode):
            if current.name is None and all(m.matches({}) for m in current.matchers):
                raise ParseError("a vector selector needs a name or a matcher that does not match empty")
            if current.range_s is not None and current is node:
                raise Unsupported("a bare range vector needs Prometheus (wrap it in a function)")
        elif isinstance(current, CallNode):
            fn = current.function
            if fn in RANGE_FUNCTIONS:
                if len(current.args) != 1:
                    raise ParseError(f"{fn}() takes one range vector")
                arg = current.args[0]
                if not isinstance(arg, SelectorNode) or arg.range_s is None:
                    raise ParseError(f"{fn}() needs a range vector selector such as x[5m]")
                stack.append(SelectorNode(arg.name, arg.matchers))  # its matchers, checked as an instant selector
                continue
            if fn == "histogram_quantile" and len(current.args) != 2:
                raise ParseError("histogram_quantile() takes a quantile and a vector")
            stack.extend(current.args)
        elif isinstance(current, AggregateNode):
            stack.append(current.expr)
        elif isinstance(current, BinaryNode):
            stack.extend((current.lhs, current.rhs))
        elif isinstance(current, NegateNode):
            stack.append(current.expr)
    for inner in _walk(node):
        if isinstance(inner, SelectorNode) and inner.range_s is not None and not _inside_range_function(node, inner):
            raise ParseError("a range vector can only be the argument of a range function")
        if isinstance(inner, StringNode) and inner is node:
            raise Unsupported("a string result needs Prometheus")


def _walk(node: Node) -> Iterable[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, CallNode):
            stack.extend(current.args)
        elif isinstance(current, (AggregateNode, NegateNode)):
            stack.append(current.expr)
        elif isinstance(current, BinaryNode):
            stack.extend((current.lhs, current.rhs))


def _inside_range_function(root: Node, target: SelectorNode) -> bool:
    return any(
        isinstance(n, CallNode) and n.function in RANGE_FUNCTIONS and n.args and n.args[0] is target
        for n in _walk(root)
    )


def support_problem(expr: str) -> str | None:
    """None when ``expr`` can be evaluated here; else why not (``"function label_replace() needs Prometheus"``)."""
    try:
        parse(expr)
    except Unsupported as exc:
        return str(exc)
    except ParseError as exc:
        return f"cannot evaluate: {exc}"
    return None


# --------------------------------------------------------------------------------------------------- evaluation


@dataclass
class SeriesData:
    """One stored series: its labels (``__name__`` included) and values aligned to the history's timestamps.

    ``values[i]`` is NaN when the series was absent from scrape ``i`` (a staleness marker, as Prometheus writes one
    when a series leaves a scrape).
    """

    labels: Mapping[str, str]
    values: Sequence[float]


class DataSource:
    """What the evaluator reads: timestamps in increasing order and the series a selector matches."""

    times: Sequence[float]

    def select(self, name: str | None, matchers: Sequence[Matcher]) -> list[SeriesData]:  # pragma: no cover
        raise NotImplementedError


@dataclass
class _Vector:
    """An instant vector over the steps: per label set, one value (or None) per step."""

    series: dict[tuple[tuple[str, str], ...], list[float | None]] = field(default_factory=dict)


@dataclass
class _Scalar:
    values: list[float]


@dataclass(frozen=True)
class EvalResult:
    """The answer of a range evaluation: ``(labels, [(t, value), ...])`` per series, absent steps left out."""

    series: tuple[tuple[dict[str, str], tuple[tuple[float, float], ...]], ...]


def _key(labels: Mapping[str, str], drop_name: bool = False) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if not (drop_name and k == "__name__")))


def _present(
    source: DataSource, values: Sequence[float], first: int = 0, last: int | None = None
) -> tuple[list[float], list[float]]:
    """The series' real points in slots ``first..last-1`` (staleness markers removed), as times and values."""
    all_times = source.times
    last = len(all_times) if last is None else last
    times: list[float] = []
    vals: list[float] = []
    for i in range(first, min(last, len(values))):
        v = values[i]
        if v == v:  # not NaN
            times.append(all_times[i])
            vals.append(v)
    return times, vals


def _instant(source: DataSource, node: SelectorNode, steps: Sequence[float]) -> _Vector:
    out = _Vector()
    times = source.times
    for data in source.select(node.name, node.matchers):
        column: list[float | None] = []
        for t in steps:
            i = bisect.bisect_right(times, t) - 1
            if i < 0 or t - times[i] > LOOKBACK_S:
                column.append(None)
                continue
            v = data.values[i]
            column.append(None if v != v else v)
        if any(v is not None for v in column):
            out.series[_key(data.labels)] = column
    return out


def _extrapolated(
    times: Sequence[float], vals: Sequence[float], lo: int, hi: int, start: float, end: float, counter: bool,
    rate: bool, resets: Sequence[int],
) -> float | None:
    """Prometheus' ``extrapolatedRate`` (2.42) for points ``lo..hi-1`` of the window ``[start, end]``."""
    count = hi - lo
    if count < 2:
        return None
    first_t, first_v, last_t, last_v = times[lo], vals[lo], times[hi - 1], vals[hi - 1]
    result = last_v - first_v
    if counter:  # every reset inside the window adds the value before it, in order (as Prometheus adds them)
        for i in resets[bisect.bisect_right(resets, lo) : bisect.bisect_left(resets, hi)]:
            result += vals[i - 1]
    to_start = first_t - start
    to_end = end - last_t
    sampled = last_t - first_t
    if sampled <= 0:
        return None
    average = sampled / (count - 1)
    if counter and result > 0 and first_v >= 0:
        to_zero = sampled * (first_v / result)
        to_start = min(to_start, to_zero)
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    factor = interval / sampled
    if rate:
        factor /= end - start
    return result * factor


def _range_function(source: DataSource, fn: str, node: SelectorNode, steps: Sequence[float]) -> _Vector:
    out = _Vector()
    window = float(node.range_s or 0.0)
    first = bisect.bisect_left(source.times, steps[0] - window) if steps else 0  # only the slots the steps read
    last = bisect.bisect_right(source.times, steps[-1]) if steps else 0
    for data in source.select(node.name, node.matchers):
        times, vals = _present(source, data.values, first, last)
        if not times:
            continue
        resets = [i for i in range(1, len(vals)) if vals[i] < vals[i - 1]]  # where a counter went down
        column: list[float | None] = []
        for t in steps:
            lo = bisect.bisect_left(times, t - window)
            hi = bisect.bisect_right(times, t)
            column.append(_window_value(fn, times, vals, lo, hi, t - window, t, resets))
        if any(v is not None for v in column):
            out.series[_key(data.labels, drop_name=True)] = column
    return out


def _window_value(
    fn: str, times: Sequence[float], vals: Sequence[float], lo: int, hi: int, start: float, end: float,
    resets: Sequence[int],
) -> float | None:
    count = hi - lo
    if count <= 0:
        return None
    if fn in ("rate", "increase"):
        return _extrapolated(times, vals, lo, hi, start, end, True, fn == "rate", resets)
    if fn == "delta":
        return _extrapolated(times, vals, lo, hi, start, end, False, False, resets)
    if fn == "irate":
        if count < 2:
            return None
        previous, last = vals[hi - 2], vals[hi - 1]
        gap = times[hi - 1] - times[hi - 2]
        if gap <= 0:
            return None
        return (last - previous if last >= previous else last) / gap
    if fn == "deriv":
        return _deriv(times, vals, lo, hi) if count >= 2 else None
    if fn == "sum_over_time":
        total, c = 0.0, 0.0
        for i in range(lo, hi):
            total, c = _kahan(vals[i], total, c)
        return total if math.isinf(total) else total + c
    if fn == "avg_over_time":
        return _mean(vals, lo, hi)
    if fn == "count_over_time":
        return float(count)
    if fn == "max_over_time":
        return max(vals[lo:hi])
    if fn == "min_over_time":
        return min(vals[lo:hi])
    raise Unsupported(f"function {fn}() needs Prometheus")  # pragma: no cover - parse() refuses it first


def _kahan(inc: float, total: float, c: float) -> tuple[float, float]:
    """Prometheus' ``kahanSumInc`` (Neumaier's improvement of Kahan summation)."""
    t = total + inc
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def _mean(vals: Sequence[float], lo: int, hi: int) -> float:
    """``avg_over_time`` as Prometheus 2.42 computes it: an incremental mean, Kahan-compensated."""
    mean, count, c = 0.0, 0.0, 0.0
    for i in range(lo, hi):
        v = vals[i]
        count += 1
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                continue
            if not math.isinf(v) and v == v:
                continue
        mean, c = _kahan(v / count - mean / count, mean, c)
    return mean if math.isinf(mean) else mean + c


def _deriv(times: Sequence[float], vals: Sequence[float], lo: int, hi: int) -> float:
    """The slope of Prometheus' ``linearRegression`` (Kahan sums, x relative to the first sample)."""
    n = sum_x = c_x = sum_y = c_y = sum_xy = c_xy = sum_x2 = c_x2 = 0.0
    first_y = vals[lo]
    constant = True
    base = times[lo]
    for i in range(lo, hi):
        y = vals[i]
        if constant and i > lo and y != first_y:
            constant = False
        n += 1.0
        x = times[i] - base
        sum_x, c_x = _kahan(x, sum_x, c_x)
        sum_y, c_y = _kahan(y, sum_y, c_y)
        sum_xy, c_xy = _kahan(x * y, sum_xy, c_xy)
        sum_x2, c_x2 = _kahan(x * x, sum_x2, c_x2)
    if constant:
        return math.nan if math.isinf(first_y) else 0.0
    sum_x += c_x
    sum_y += c_y
    sum_xy += c_xy
    sum_x2 += c_x2
    cov = sum_xy / n - sum_x * sum_y / n / n
    var = sum_x2 / n - sum_x * sum_x / n / n
    return _arith("/", cov, var)


def _bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' ``bucketQuantile`` (2.42): ``buckets`` are ``(upper bound, cumulative count)``."""
    if q != q:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets.sort(key=lambda b: b[0])
    if not buckets or not math.isinf(buckets[-1][0]):
        return math.nan
    merged: list[list[float]] = []
    for upper, count in buckets:  # coalesce buckets with the same bound
        if merged and merged[-1][0] == upper:
            merged[-1][1] += count
        else:
            merged.append([upper, count])
    for i in range(1, len(merged)):  # ensure monotonic counts
        if merged[i][1] < merged[i - 1][1]:
            merged[i][1] = merged[i - 1][1]
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = bisect.bisect_left([c for _, c in merged], rank)
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[b][0], merged[b][1]
    if b > 0:
        start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    if count == 0:
        return start
    return start + (end - start) * (rank / count)


def _parse_le(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _histogram_quantile(q: _Scalar, vector: _Vector, steps: int) -> _Vector:
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, list[float | None]]]] = {}
    for key, bucket_column in vector.series.items():
        labels = dict(key)
        le = _parse_le(labels.pop("le", "")) if "le" in labels else None
        if le is None:
            continue
        groups.setdefault(_key(labels, drop_name=True), []).append((le, bucket_column))
    out = _Vector()
    for key, members in groups.items():
        column: list[float | None] = []
        for i in range(steps):
            buckets = [(le, values[i]) for le, values in members if values[i] is not None]
            column.append(_bucket_quantile(q.values[i], buckets) if buckets else None)  # type: ignore[arg-type]
        if any(v is not None for v in column):
            out.series[key] = column
    return out


def _aggregate(node: AggregateNode, vector: _Vector, steps: int) -> _Vector:
    groups: dict[tuple[tuple[str, str], ...], list[list[float | None]]] = {}
    for key, column in vector.series.items():
        labels = dict(key)
        if node.by is not None:
            grouped = {k: labels[k] for k in node.by if k in labels and labels[k] != ""}
        elif node.without is not None:
            grouped = {k: v for k, v in labels.items() if k not in node.without and k != "__name__"}
        else:
            grouped = {}
        groups.setdefault(_key(grouped), []).append(column)
    out = _Vector()
    for key, columns in groups.items():
        result: list[float | None] = []
        for i in range(steps):
            present = [c[i] for c in columns if c[i] is not None]
            if not present:
                result.append(None)
            elif node.op == "sum":  # in series order, one addition at a time, as Prometheus 2.42 sums
                total = 0.0
                for v in present:
                    total += v  # type: ignore[operator]
                result.append(total)
            elif node.op == "avg":
                result.append(_average(present))  # type: ignore[arg-type]
            elif node.op == "min":
                result.append(_nan_aware(min, present))  # type: ignore[arg-type]
            elif node.op == "max":
                result.append(_nan_aware(max, present))  # type: ignore[arg-type]
            else:  # count
                result.append(float(len(present)))
        if any(v is not None for v in result):
            out.series[key] = result
    return out


def _average(values: list[float]) -> float:
    """``avg`` as Prometheus 2.42 aggregates: an incremental mean in series order."""
    mean, count = values[0], 1.0
    for v in values[1:]:
        count += 1
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                continue
            if not math.isinf(v) and v == v:
                continue
        mean += v / count - mean / count
    return mean


def _nan_aware(pick: Callable[[list[float]], float], values: list[float]) -> float:
    """Prometheus' min/max: NaN only when every value is NaN."""
    real = [v for v in values if v == v]
    return pick(real) if real else math.nan


def _arith(op: str, a: float, b: float) -> float:
    """Go's float64 arithmetic: division by zero gives ±Inf or NaN instead of raising."""
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                return math.nan if a == 0 or a != a else math.copysign(math.inf, a) * math.copysign(1.0, b)
            return a / b
        if op == "%":
            return math.fmod(a, b) if b != 0 and math.isfinite(a) else math.nan
        if op == "^":
            return math.pow(a, b)
    except (OverflowError, ValueError):
        if op == "^":
            try:
                return math.inf if abs(a) > 1 else 0.0
            except TypeError:  # pragma: no cover
                return math.nan
        return math.nan
    raise Unsupported(f"operator {op!r} needs Prometheus")  # pragma: no cover


def _binary(op: str, lhs: _Scalar | _Vector, rhs: _Scalar | _Vector, steps: int) -> _Scalar | _Vector:
    if isinstance(lhs, _Scalar) and isinstance(rhs, _Scalar):
        return _Scalar([_arith(op, a, b) for a, b in zip(lhs.values, rhs.values, strict=True)])
    out = _Vector()
    if isinstance(lhs, _Vector) and isinstance(rhs, _Scalar):
        for key, column in lhs.series.items():
            out.series[_drop_name(key)] = [
                None if v is None else _arith(op, v, rhs.values[i]) for i, v in enumerate(column)
            ]
        return out
    if isinstance(lhs, _Scalar) and isinstance(rhs, _Vector):
        for key, column in rhs.series.items():
            out.series[_drop_name(key)] = [
                None if v is None else _arith(op, lhs.values[i], v) for i, v in enumerate(column)
            ]
        return out
    assert isinstance(lhs, _Vector) and isinstance(rhs, _Vector)
    right: dict[tuple[tuple[str, str], ...], list[float | None]] = {}
    for key, column in rhs.series.items():
        matched = _drop_name(key)
        if matched in right:
            raise Unsupported("many-to-one vector matching needs Prometheus (duplicate series on the right)")
        right[matched] = column
    for key, column in lhs.series.items():
        matched = _drop_name(key)
        other = right.get(matched)
        if other is None:
            continue
        if matched in out.series:
            raise Unsupported("many-to-one vector matching needs Prometheus (duplicate series on the left)")
        values = [
            None if a is None or b is None else _arith(op, a, b) for a, b in zip(column, other, strict=True)
        ]
        if any(v is not None for v in values):
            out.series[matched] = values
    return out


def _drop_name(key: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(kv for kv in key if kv[0] != "__name__")


def _eval(node: Node, source: DataSource, steps: Sequence[float]) -> _Scalar | _Vector:
    n = len(steps)
    if isinstance(node, NumberNode):
        return _Scalar([node.value] * n)
    if isinstance(node, StringNode):
        raise Unsupported("a string value needs Prometheus")
    if isinstance(node, SelectorNode):
        if node.range_s is not None:
            raise ParseError("a range vector can only be the argument of a range function")
        return _instant(source, node, steps)
    if isinstance(node, NegateNode):
        inner = _eval(node.expr, source, steps)
        if isinstance(inner, _Scalar):
            return _Scalar([-v for v in inner.values])
        return _Vector({_drop_name(k): [None if v is None else -v for v in c] for k, c in inner.series.items()})
    if isinstance(node, BinaryNode):
        return _binary(node.op, _eval(node.lhs, source, steps), _eval(node.rhs, source, steps), n)
    if isinstance(node, AggregateNode):
        inner = _eval(node.expr, source, steps)
        if not isinstance(inner, _Vector):
            raise ParseError(f"{node.op}() needs an instant vector")
        return _aggregate(node, inner, n)
    if isinstance(node, CallNode):
        if node.function in RANGE_FUNCTIONS:
            arg = node.args[0]
            assert isinstance(arg, SelectorNode)
            return _range_function(source, node.function, arg, steps)
        q = _eval(node.args[0], source, steps)
        vector = _eval(node.args[1], source, steps)
        if not isinstance(q, _Scalar) or not isinstance(vector, _Vector):
            raise ParseError("histogram_quantile() takes a scalar and an instant vector")
        return _histogram_quantile(q, vector, n)
    raise ParseError("unknown expression")  # pragma: no cover


def evaluate(expr: str | Node, source: DataSource, steps: Sequence[float]) -> EvalResult:
    """Evaluate ``expr`` at every time of ``steps`` (increasing Unix seconds) against ``source``.

    A scalar result comes back as one series without labels. Non-finite values (NaN, ±Inf) are kept: the page shows
    them as Grafana does. Raises ParseError or Unsupported, nothing else for any text.
    """
    node = parse(expr) if isinstance(expr, str) else expr
    result = _eval(node, source, steps)
    out: list[tuple[dict[str, str], tuple[tuple[float, float], ...]]] = []
    if isinstance(result, _Scalar):
        out.append(({}, tuple((t, v) for t, v in zip(steps, result.values, strict=True))))
    else:
        for key in sorted(result.series):
            column = result.series[key]
            points = tuple((t, v) for t, v in zip(steps, column, strict=True) if v is not None)
            if points:
                out.append((dict(key), points))
    return EvalResult(tuple(out))


def referenced_selectors(node: Node) -> list[SelectorNode]:
    """Every selector of ``node`` (for the exemplars of a panel: which metric names it reads)."""
    return [n for n in _walk(node) if isinstance(n, SelectorNode)]

