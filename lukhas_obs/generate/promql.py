"""PromQL rendering and reference checking for generated rules and dashboards.

Rendering produces Prometheus's *canonical* text (what ``/api/v1/format_query`` prints: ``sum by (le) (...)``,
``by (le, tier)``, shortest numbers), so a generated expression is stable and diffable, and the end-to-end test can
prove that it equals seed 003's hand-written expressions after Prometheus's own formatting.

:func:`metric_references` is a small PromQL lexer that returns every metric name an expression selects; generators
use it to refuse an expression that names anything outside the catalog and its recording rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

__all__ = [
    "UnknownMetricError",
    "aggregate",
    "check_references",
    "histogram_quantile",
    "metric_references",
    "number",
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


def check_references(expr: str, known: Iterable[str], where: str) -> None:
    """Raise :class:`UnknownMetricError` when ``expr`` selects a metric outside ``known``."""
    known_set = set(known)
    unknown = sorted(metric_references(expr) - known_set)
    if unknown:
        raise UnknownMetricError(
            f"{where}: expression {expr!r} references {', '.join(unknown)}, which is neither a catalog sample "
            "nor a recording rule"
        )
