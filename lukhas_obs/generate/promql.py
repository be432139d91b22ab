"""PromQL rendering and reference checking for generated rules and dashboards.

Rendering produces Prometheus's *canonical* text (what ``/api/v1/format_query`` prints: ``sum by (le) (...)``,
``by (le, tier)``, shortest numbers), so a generated expression is stable and diffable, and the end-to-end test can
prove that it equals seed 003's hand-written expressions after Prometheus's own formatting.

:func:`metric_references` is a small PromQL lexer that returns every metric name an expression selects; generators
use it to refuse an expression that names anything outside the catalog and its recording rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

__all__ = [
    "UnknownMetricError",
    "aggregate",
    "check_references",
    "go_value",
    "histogram_quantile",
    "metric_references",
    "number",
    "one_line",
    "over_time",
    "selector",
]

#: PromQL keywords and aggregation modifiers that look like identifiers but never name a metric.
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "atan2",
        "inf",
        "nan",
    }
)
_TOKEN_RE = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<braces>\{)
  | (?P<number>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:[a-z]+\d*)*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE,
)


#: Go's ``%v`` of a float64 is strconv's ``'g'`` with the shortest digits, which switches to the exponent form at
#: decimal exponent 6 (``eprec = 6`` for the shortest precision): 123456 → ``123456``, 1000000 → ``1e+06``.
_GO_EPREC = 6


class UnknownMetricError(ValueError):
    """A generated expression names a metric that is neither in the catalog nor a recording rule."""


def number(value: float | Decimal, min_decimals: int = 0) -> str:
    """Shortest decimal text of ``value`` (``0.1``, ``14.4``, ``0.72``, ``1``), optionally padded (``0.50``)."""
    dec = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    text = format(dec.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if min_decimals:
        whole, _, frac = text.partition(".")
        text = f"{whole}.{frac.ljust(min_decimals, '0')}"
    return text


def selector(name: str, matchers: Mapping[str, str] | Sequence[tuple[str, str]] = ()) -> str:
    """``name{a="x",b="y"}`` with matchers in the given order (canonical: no spaces), or ``name`` alone."""
    pairs = list(matchers.items()) if isinstance(matchers, Mapping) else list(matchers)
    if not pairs:
        return name
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return f"{name}{{{body}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def aggregate(op: str, inner: str, by: Sequence[str] | None) -> str:
    """``op by (a, b) (inner)``; ``op(inner)`` for ``by=()``; ``inner`` unchanged for ``by=None``."""
    if by is None:
        return inner
    if not by:
        return f"{op}({inner})"
    return f"{op} by ({', '.join(by)}) ({inner})"


def rate(fn: str, series: str, window: str) -> str:
    """``rate(series[window])`` (or ``increase``/``irate``)."""
    return f"{fn}({series}[{window}])"


def histogram_quantile(q: float, bucket_series: str, window: str, by: Sequence[str] = ()) -> str:
    """``histogram_quantile(q, sum by (le, ...) (rate(bucket_series[window])))``."""
    return f"histogram_quantile({number(q)}, {aggregate('sum', rate('rate', bucket_series, window), ['le', *by])})"


def over_time(fn: str, series: str, window: str) -> str:
    """``avg_over_time(series[window])`` and friends."""
    return f"{fn}_over_time({series}[{window}])"


def metric_references(expr: str) -> set[str]:
    """Every metric name ``expr`` selects (identifiers that are not functions, keywords or label names).

    Handles strings, label matchers ``{...}``, ranges ``[...]``, functions and aggregations (``sum by (le) (...)``),
    ``by``/``without``/``on``/``ignoring`` label lists and ``__name__="..."`` matchers. It is a lexer, not a
    parser: good for generated expressions, not adversarial ones.
    """
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN_RE.finditer(expr) if m.lastgroup != "space"]
    names: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "braces":
            j = i + 1
            while j < len(tokens) and tokens[j][1] != "}":
                if tokens[j][1] == "__name__" and j + 2 < len(tokens) and tokens[j + 1][1] == "=":
                    names.add(tokens[j + 2][1][1:-1])
                j += 1
            i = j + 1
            continue
        if kind == "ident":
            lowered = text.lower()
            nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
            if lowered in {"by", "without", "on", "ignoring", "group_left", "group_right"} and nxt == "(":
                j = i + 2
                while j < len(tokens) and tokens[j][1] != ")":
                    j += 1
                i = j + 1
                continue
            if lowered not in _KEYWORDS and nxt != "(" and nxt.lower() not in {"by", "without"}:
                names.add(text)
        i += 1
    return names


def one_line(expr: str) -> str:
    """``expr`` with every run of whitespace outside string literals made one space, and no leading/trailing space.

    Catalog expressions may be written over several lines (``expr: |``); rule files and dashboards get them on one
    line. PromQL ignores whitespace between tokens, so the meaning is unchanged. An expression with a ``#`` comment
    outside a string is only stripped: joining its lines would comment out the rest.
    """
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN_RE.finditer(expr)]
    if any(kind == "other" and text == "#" for kind, text in tokens):
        return expr.strip()
    out: list[str] = []
    for kind, text in tokens:
        if kind == "space":
            if out and out[-1] != " ":
                out.append(" ")
        elif kind == "range":
            out.append(" ".join(text.split()) if any(c in text for c in "\n\r\t") else text)
        else:
            out.append(text)
    return "".join(out).strip()


def go_value(value: float) -> str:
    """``value`` as Go's ``fmt`` prints a float64 with ``%v``: what ``{{ $value }}`` renders in a Prometheus template.

    Shortest round-trip digits (Python's ``repr`` and Go agree on them); the exponent form (``1e+06``, ``1e-05``,
    at least two exponent digits) when the decimal exponent is below -4 or at least 6. The promtool tests of
    tests/test_generate_freeform.py check this against promtool's own rendering.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exponent)  # position of the decimal point relative to the digits
    exp10 = point - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= _GO_EPREC:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{prefix}{text}{'0' * (point - len(text))}"
    return f"{prefix}{text[:point]}.{text[point:]}"


def check_references(expr: str, known: Iterable[str], where: str) -> None:
    """Raise :class:`UnknownMetricError` when ``expr`` selects a metric outside ``known``."""
    known_set = set(known)
    unknown = sorted(metric_references(expr) - known_set)
    if unknown:
        raise UnknownMetricError(
            f"{where}: expression {expr!r} references {', '.join(unknown)}, which is neither a catalog sample "
            "nor a recording rule"
        )
