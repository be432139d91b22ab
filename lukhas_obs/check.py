"""``lukhas-obs check``: is what a service emits what its catalogs declare?

The catalog is checked inside the process that loads it; this checks the *output*, from outside, the way a CI job or
an operator sees it (OTel Weaver's ``registry live-check`` idea, for lukhas-obs catalogs):

- a ``/metrics`` URL, scraped within one deadline (connect, headers and body), a size cap, no redirects (a bearer
  token must never follow a redirect to another host) and an optional bearer token read from a file or a variable;
  OpenMetrics is asked for, so units (``# UNIT``) are checked too;
- trace files (OTLP/JSON lines, what ``traces_file`` writes), read with :mod:`lukhas_obs.tracefile`;
- OTLP/HTTP sent to ``--listen HOST:PORT`` for ``--duration`` seconds: a small receiver (loopback unless
  ``--allow-remote``; bodies bounded before and after gzip; a bounded number of connections, each with a timeout)
  decodes ``/v1/metrics`` and ``/v1/traces`` (protobuf or JSON) with opentelemetry-proto.

Findings (codes after Weaver's): ``unknown_metric``, ``wrong_kind``, ``wrong_unit``, ``unexpected_sample``,
``unexpected_label``, ``missing_label``, ``unknown_label_value``, ``cardinality_overflow``, ``undeclared_span``,
``undeclared_attribute``, ``wrong_span_kind``, ``wrong_component``, ``unreadable`` and, for information only,
``not_seen`` (declared, not emitted). Exit status: 0 when no finding is an error, 1 when one is, 2 when a source
could not be read at all. ``--json`` prints the report as one JSON document.

Nothing read is trusted: names, keys and values in findings are cut, made printable (control characters escaped)
and passed through the secret redaction of :func:`lukhas_obs.errors.redact_text`; the bearer token is never
printed; findings are bounded (:data:`MAX_FINDINGS` distinct ones, the rest counted).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import fnmatch
import ipaddress
import json
import math
import os
import signal
import socket
import sys
import threading
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # pragma: no cover - typing only
    from lukhas_obs.catalog.spec import Catalog, MetricSpec, SpanSpec

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_FINDINGS",
    "CheckReport",
    "Checker",
    "Finding",
    "OtlpCapture",
    "ScrapeError",
    "check_command",
    "read_token",
    "register_cli",
    "scrape",
]

ERROR, WARNING, INFO = "error", "warning", "info"
#: Distinct findings kept; later ones are only counted.
MAX_FINDINGS = 1000
#: Sources named on one finding.
MAX_SOURCES_PER_FINDING = 5
#: Longest name, key or value shown in a finding.
MAX_SHOWN = 120
#: Largest exposition or trace request accepted, in bytes (after decompression).
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: Largest bearer-token file read.
MAX_TOKEN_FILE_BYTES = 64 * 1024
#: Concurrent connections the OTLP receiver serves; more are closed at once.
MAX_CONNECTIONS = 32
#: Seconds an OTLP client may take to send a request (headers and body) before it is disconnected.
CONNECTION_TIMEOUT_S = 10.0
#: Longest an OTLP connection may stay open (keep-alive included), whatever it sends.
MAX_CONNECTION_S = 30.0
#: Distinct metric/span names remembered for the ``not_seen`` summary.
MAX_SEEN = 10_000

OPENMETRICS_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
#: Labels that are not the metric's own: bucket bounds, summary quantiles, the SDK's scope labels, Prometheus's own.
_STRUCTURAL_LABELS = frozenset(
    {"le", "quantile", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url", "job", "instance"}
)
_OVERFLOW_LABEL = "otel_metric_overflow"
#: Families every lukhas-obs /metrics has that no catalog declares (the resource's one series).
_RESOURCE_FAMILIES = frozenset({"target_info", "target"})
#: Attributes lukhas-obs' span helpers add to every catalog span.
_IMPLICIT_SPAN_ATTRIBUTES = frozenset({"component"})
_SPAN_KIND_NAMES = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def _shown(text: object, limit: int = MAX_SHOWN) -> str:
    """``text`` as one printable, bounded, redacted line (never a secret, never a terminal escape sequence)."""
    from lukhas_obs.errors import redact_text

    if type(text) is str:
        raw = text
    elif isinstance(text, str):
        raw = str.__str__(text)  # never a subclass's own __str__
    elif isinstance(text, BaseException):
        try:
            raw = str(text) or type(text).__name__
        except Exception:
            raw = type(text).__name__
    else:
        raw = type(text).__name__
    if len(raw) > limit:
        raw = raw[:limit] + "…"
    raw = redact_text(raw)
    out = []
    for ch in raw:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or 0xD800 <= code < 0xE000:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _closest(name: str, candidates: Iterable[str]) -> str:
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"; did you mean {matches[0]}?" if matches else ""


# ------------------------------------------------------------------------------------------------ findings


@dataclass
class Finding:
    """One kind of problem, counted over every time it was seen."""

    severity: str
    code: str
    subject: str
    message: str
    count: int = 1
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "subject": self.subject,
            "message": self.message,
            "count": self.count,
            "sources": list(self.sources),
        }


@dataclass
class CheckReport:
    """What :class:`Checker` found: findings (errors first), what was checked, and what was declared but not seen."""

    catalogs: list[str]
    sources: list[str]
    findings: list[Finding]
    checked: dict[str, int]
    not_seen_metrics: list[str]
    not_seen_spans: list[str]
    truncated: int = 0
    unreadable_sources: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == WARNING)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and not self.unreadable_sources

    @property
    def exit_code(self) -> int:
        """0: nothing wrong; 1: error findings; 2: a source could not be read at all."""
        if self.unreadable_sources:
            return 2
        return 1 if self.errors else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "errors": self.errors,
            "warnings": self.warnings,
            "catalogs": self.catalogs,
            "sources": self.sources,
            "unreadable_sources": self.unreadable_sources,
            "checked": self.checked,
            "findings": [f.as_dict() for f in self.findings],
            "truncated_findings": self.truncated,
            "not_seen": {"metrics": self.not_seen_metrics, "spans": self.not_seen_spans},
        }

    def text(self, *, verbose: bool = False) -> str:
        """A human report: one summary line, one line per finding (``info`` ones only when ``verbose``)."""
        head = (
            f"lukhas-obs check: {'OK' if self.ok else 'FAILED'}: {self.errors} error(s), {self.warnings} warning(s) "
            f"in {', '.join(self.sources) or 'no source'} (catalogs: {', '.join(self.catalogs)})"
        )
        counts = ", ".join(f"{k} {v}" for k, v in self.checked.items() if v)
        lines = [head, f"  checked: {counts or 'nothing'}"]
        for finding in self.findings:
            if finding.severity == INFO and not verbose:
                continue
            times = f" (×{finding.count})" if finding.count > 1 else ""
            lines.append(f"{finding.severity:<7} {finding.code:<20} {finding.subject}: {finding.message}{times}")
        if self.truncated:
            lines.append(f"... {self.truncated} more finding(s) not kept (limit {MAX_FINDINGS})")
        if not verbose and (self.not_seen_metrics or self.not_seen_spans):
            lines.append(
                f"  declared but not seen: {len(self.not_seen_metrics)} metric(s), {len(self.not_seen_spans)} "
                "span name(s) (--verbose lists them)"
            )
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ the checker


def _expected_otlp(kind: str) -> tuple[str, bool | None]:
    """(OTLP data field, monotonic) a catalog kind is exported as."""
    if kind in ("counter", "observable_counter"):
        return "sum", True
    if kind in ("updown_counter", "observable_updown_counter"):
        return "sum", False
    if kind == "histogram":
        return "histogram", None
    return "gauge", None


def _otlp_kind_text(data: str, monotonic: bool | None) -> str:
    if data == "sum":
        return "monotonic sum (counter)" if monotonic else "non-monotonic sum (up-down counter)"
    return data


class Checker:
    """Checks observed metrics and spans against catalogs; thread-safe (the OTLP receiver feeds it from threads).

    ``allow``: globs of metric and span names that are not checked (another library's, on purpose);
    ``ignore_labels``: labels that may appear on every series (copied resource attributes, a relabeling's).
    """

    def __init__(
        self,
        catalogs: Sequence[Catalog],
        *,
        allow: Sequence[str] = (),
        ignore_labels: Sequence[str] = (),
    ) -> None:
        from lukhas_obs.catalog.kinds import KINDS

        self._kinds = KINDS
        self.catalog_names = [c.name for c in catalogs]
        self.by_name: dict[str, MetricSpec] = {}
        self.by_otel: dict[str, MetricSpec] = {}
        self.sample_owner: dict[str, MetricSpec] = {}
        self.spans: dict[str, SpanSpec] = {}
        for cat in catalogs:
            for m in cat.metrics:
                self.by_name.setdefault(m.name, m)
                self.by_otel.setdefault(m.otel_name, m)
                for sample in m.sample_names:
                    self.sample_owner.setdefault(sample, m)
            for s in cat.spans:
                for concrete in s.names():
                    self.spans.setdefault(concrete, s)
        self.allow = tuple(allow)
        self.ignore_labels = frozenset(ignore_labels)
        self._lock = threading.Lock()
        self._findings: dict[tuple[str, str, str], Finding] = {}
        self._truncated = 0
        self.sources: list[str] = []
        self.unreadable: list[str] = []
        self.checked: dict[str, int] = {
            "metric families": 0,
            "samples": 0,
            "otlp metrics": 0,
            "otlp data points": 0,
            "spans": 0,
        }
        self._seen_metrics: set[str] = set()
        self._seen_spans: set[str] = set()
        self._looked_at_metrics = False
        self._looked_at_spans = False

    # -- bookkeeping

    def add(self, severity: str, code: str, subject: str, message: str, source: str, key: str = "") -> None:
        """Record one finding (de-duplicated by code, subject and ``key``; counted)."""
        with self._lock:
            slot = (code, subject, key or message)
            found = self._findings.get(slot)
            if found is None:
                if len(self._findings) >= MAX_FINDINGS:
                    self._truncated += 1
                    return
                found = self._findings[slot] = Finding(severity, code, subject, message, 0)
            found.count += 1
            if source not in found.sources and len(found.sources) < MAX_SOURCES_PER_FINDING:
                found.sources.append(source)

    def source(self, name: str) -> None:
        with self._lock:
            if name not in self.sources:
                self.sources.append(name)

    def unreadable_source(self, name: str, why: str) -> None:
        """A source that could not be read at all (exit status 2)."""
        self.source(name)
        with self._lock:
            self.unreadable.append(name)
        self.add(ERROR, "unreadable", name, why, name)

    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.checked[what] = self.checked.get(what, 0) + n

    def _seen(self, bucket: set[str], name: str) -> None:
        if len(bucket) < MAX_SEEN:
            bucket.add(name)

    def _allowed(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allow)

    # -- labels and attributes

    def _check_values(self, spec: MetricSpec, values: Mapping[str, str], source: str) -> None:
        """Label (or attribute) values of one series: enumerated ones must be declared (or the fold value)."""
        by_label = {a.label: a for a in spec.attributes}
        by_label.update({a.key: a for a in spec.attributes})
        for key, value in values.items():
            attr = by_label.get(key)
            if attr is None or attr.values is None or attr.keep_unknown:
                continue
            if value not in attr.values and value != attr.fold_to:
                allowed = ", ".join([*attr.values, attr.fold_to])
                self.add(
                    ERROR, "unknown_label_value", spec.name,
                    f"label {_shown(key)!r} has value {_shown(value, 40)!r}, which is not declared ({allowed})",
                    source, key=f"{key}={value[:200]}",
                )  # fmt: skip

    # -- Prometheus

    def _family_spec(self, family: Any) -> MetricSpec | None:
        name = family.name
        for candidate in (name, name + "_total", name + "_info"):
            spec = self.by_name.get(candidate)
            if spec is not None:
                return spec
        for sample in family.samples:
            spec = self.sample_owner.get(sample.name)
            if spec is not None:
                return spec
        return None

    def metrics_exposition(self, text: str, *, openmetrics: bool, source: str) -> None:
        """Check one Prometheus text (or OpenMetrics) exposition."""
        self.source(source)
        self._looked_at_metrics = True
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
        from prometheus_client.parser import text_string_to_metric_families as text_families

        try:
            families = list((openmetrics_families if openmetrics else text_families)(text))
        except Exception as exc:  # the parsers raise ValueError and friends on malformed input
            what = "OpenMetrics" if openmetrics else "text"
            self.add(ERROR, "invalid_exposition", source, f"not a valid {what} exposition: {_shown(exc)}", source)
            if not openmetrics:
                return
            try:  # the lenient text parser still reads the families of an OpenMetrics body the strict one refuses
                families = list(text_families(text))
            except Exception:
                return
            openmetrics = False
        for family in families:
            self._count("metric families")
            self._count("samples", len(family.samples))
            self._family(family, openmetrics, source)

    def _family(self, family: Any, openmetrics: bool, source: str) -> None:
        from opentelemetry.exporter.prometheus._mapping import map_unit

        name = family.name
        shown = name + "_total" if family.type == "counter" and not name.endswith("_total") else name
        if name in _RESOURCE_FAMILIES or self._allowed(name) or self._allowed(shown):
            return
        spec = self._family_spec(family)
        if spec is None:
            self.add(
                ERROR, "unknown_metric", _shown(shown),
                f"no checked catalog declares it ({family.type}, {len(family.samples)} sample(s))"
                + _closest(shown, self.by_name), source,
            )  # fmt: skip
            return
        self._seen(self._seen_metrics, spec.name)
        kind = self._kinds[spec.kind]
        expected = {kind.prometheus_type} | ({"gauge"} if kind.prometheus_type == "info" else set())
        if family.type not in expected:
            self.add(
                ERROR, "wrong_kind", spec.name,
                f"exposed as a {family.type}; the catalog declares a {spec.kind} (Prometheus type "
                f"{kind.prometheus_type})", source,
            )  # fmt: skip
        if openmetrics:
            want = map_unit(spec.unit or "")
            if (family.unit or "") != want:
                if family.unit:
                    self.add(
                        ERROR, "wrong_unit", spec.name,
                        f"unit {_shown(family.unit)!r}; the catalog declares {spec.unit!r} (exposed as {want!r})",
                        source,
                    )  # fmt: skip
                else:
                    self.add(WARNING, "wrong_unit", spec.name, f"no # UNIT line; expected {want!r}", source)
        declared = set(spec.label_names)
        allowed_samples = set(spec.sample_names)
        for sample in family.samples:
            if sample.name not in allowed_samples:
                self.add(
                    ERROR, "unexpected_sample", spec.name,
                    f"sample {_shown(sample.name)} is not one a {spec.kind} exposes "
                    f"({', '.join(sorted(allowed_samples))})",
                    source, key=sample.name,
                )  # fmt: skip
            labels = dict(sample.labels)
            if labels.get(_OVERFLOW_LABEL) == "true":
                self.add(
                    WARNING, "cardinality_overflow", spec.name,
                    "the SDK's overflow series (otel_metric_overflow=\"true\"): more attribute sets than its limit",
                    source,
                )  # fmt: skip
            own = {k: v for k, v in labels.items() if k not in _STRUCTURAL_LABELS and k != _OVERFLOW_LABEL}
            own = {k: v for k, v in own.items() if k not in self.ignore_labels}
            for label in sorted(set(own) - declared):
                self.add(
                    ERROR, "unexpected_label", spec.name,
                    f"label {_shown(label)!r} is not declared (declared: {', '.join(sorted(declared)) or 'none'})",
                    source, key=label,
                )  # fmt: skip
            for label in sorted(set(spec.common_attributes) - set(own)):
                self.add(
                    ERROR, "missing_label", spec.name,
                    f"common label {label!r} is missing (every series of this catalog carries it)", source, key=label,
                )  # fmt: skip
            self._check_values(spec, own, source)

    # -- OTLP metrics

    def otlp_metrics(self, request: Any, source: str) -> None:
        """Check one decoded ``ExportMetricsServiceRequest``."""
        self.source(source)
        self._looked_at_metrics = True
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    self._count("otlp metrics")
                    self._otlp_metric(metric, source)

    def _otlp_metric(self, metric: Any, source: str) -> None:
        name = metric.name
        if self._allowed(name):
            return
        spec = self.by_otel.get(name)
        if spec is None:
            self.add(
                ERROR, "unknown_metric", _shown(name),
                "no checked catalog declares this OTel instrument" + _closest(name, self.by_otel), source,
            )  # fmt: skip
            return
        self._seen(self._seen_metrics, spec.name)
        data = metric.WhichOneof("data") or "none"
        monotonic = metric.sum.is_monotonic if data == "sum" else None
        want_data, want_monotonic = _expected_otlp(spec.kind)
        if data != want_data or (want_monotonic is not None and monotonic != want_monotonic):
            self.add(
                ERROR, "wrong_kind", spec.name,
                f"{name} arrives as a {_otlp_kind_text(data, monotonic)}; the catalog declares a {spec.kind} "
                f"({_otlp_kind_text(want_data, want_monotonic)})", source,
            )  # fmt: skip
        if metric.unit != spec.unit:
            self.add(
                ERROR, "wrong_unit", spec.name,
                f"{name} has unit {_shown(metric.unit)!r}; the catalog declares {spec.unit!r}", source,
            )  # fmt: skip
        points = getattr(metric, data).data_points if data in ("sum", "gauge", "histogram", "exponential_histogram",
                                                              "summary") else ()  # fmt: skip
        declared = {a.key for a in spec.attributes} | set(spec.common_attributes)
        for point in points:
            self._count("otlp data points")
            values: dict[str, str] = {}
            keys = set()
            for kv in point.attributes:
                keys.add(kv.key)
                if kv.value.WhichOneof("value") == "string_value":
                    values[kv.key] = kv.value.string_value
            for key in sorted(keys - declared):
                self.add(
                    ERROR, "unexpected_label", spec.name,
                    f"attribute {_shown(key)!r} is not declared (declared: {', '.join(sorted(declared)) or 'none'})",
                    source, key=key,
                )  # fmt: skip
            for key in sorted(set(spec.common_attributes) - keys):
                self.add(ERROR, "missing_label", spec.name, f"common attribute {key!r} is missing", source, key=key)
            self._check_values(spec, values, source)

    # -- spans

    def span(self, name: str, kind: int, attributes: Mapping[str, Any], source: str) -> None:
        """Check one span's name, kind and attribute keys."""
        self._count("spans")
        self._looked_at_spans = True
        if self._allowed(name):
            return
        spec = self.spans.get(name)
        if spec is None:
            self.add(
                ERROR, "undeclared_span", _shown(name),
                "no checked catalog declares this span name" + _closest(name, self.spans), source,
            )  # fmt: skip
            return
        self._seen(self._seen_spans, name)
        kind_name = _SPAN_KIND_NAMES.get(kind)
        if kind_name is not None and kind_name != spec.kind:
            self.add(
                ERROR, "wrong_span_kind", name, f"span kind {kind_name}; the catalog declares {spec.kind}", source,
                key=kind_name,
            )  # fmt: skip
        declared = set(spec.attributes) | _IMPLICIT_SPAN_ATTRIBUTES
        for key in sorted(set(attributes) - declared):
            self.add(
                ERROR, "undeclared_attribute", name,
                f"attribute {_shown(key)!r} is not declared (declared: {', '.join(sorted(spec.attributes)) or 'none'})",
                source, key=key,
            )  # fmt: skip
        component = attributes.get("component")
        if component is not None and spec.component and component != spec.component:
            self.add(
                WARNING, "wrong_component", name,
                f"component {_shown(component, 40)!r}; the catalog says {spec.component!r}", source,
            )  # fmt: skip

    def trace_document(self, doc: Mapping[str, Any], source: str) -> None:
        """Check the spans of one OTLP/JSON ``ExportTraceServiceRequest`` document."""
        from lukhas_obs.tracefile.model import spans_of

        self.source(source)
        self._looked_at_spans = True
        try:
            records = list(spans_of(doc))
        except (ValueError, TypeError, AttributeError) as exc:
            self.add(WARNING, "unreadable", source, f"a malformed trace request was skipped ({_shown(exc)})", source)
            return
        for record in records:
            self.span(record.name, record.kind, record.attributes, source)

    def trace_files(self, path: str | os.PathLike[str]) -> None:
        """Check every span of a trace file (or a directory of them), line by line (bounded memory)."""
        from lukhas_obs.tracefile.model import iter_documents, trace_files

        where = str(path)
        try:
            files = trace_files(os.fspath(path))
        except (ValueError, OSError) as exc:
            self.unreadable_source(where, _shown(exc))
            return
        self.source(where)
        self._looked_at_spans = True

        def problem(message: str) -> None:
            self.add(WARNING, "unreadable", where, "a line that is not an OTLP trace request was skipped", where)

        for line_where, doc in iter_documents(files, problem):
            self.trace_document(doc, where if len(files) == 1 else line_where.rsplit(":", 1)[0])

    def otlp_traces(self, request: Any, source: str) -> None:
        """Check one decoded ``ExportTraceServiceRequest`` (protobuf), through its OTLP/JSON form."""
        from google.protobuf.json_format import MessageToDict

        self.trace_document(MessageToDict(request), source)

    # -- the report

    def report(self) -> CheckReport:
        with self._lock:
            findings = sorted(
                self._findings.values(),
                key=lambda f: ({ERROR: 0, WARNING: 1, INFO: 2}.get(f.severity, 3), f.code, f.subject, f.message),
            )
            not_seen_metrics = (
                sorted(n for n in self.by_name if n not in self._seen_metrics) if self._looked_at_metrics else []
            )
            not_seen_spans = sorted(n for n in self.spans if n not in self._seen_spans) if self._looked_at_spans else []
            infos = [
                Finding(INFO, "not_seen", n, "declared, not emitted by the checked sources", 1)
                for n in [*not_seen_metrics, *not_seen_spans]
            ]
            return CheckReport(
                catalogs=list(self.catalog_names),
                sources=list(self.sources),
                findings=[*findings, *infos],
                checked=dict(self.checked),
                not_seen_metrics=not_seen_metrics,
                not_seen_spans=not_seen_spans,
                truncated=self._truncated,
                unreadable_sources=list(self.unreadable),
            )


# ------------------------------------------------------------------------------------------------ scraping


class ScrapeError(Exception):
    """A ``/metrics`` URL could not be read (the message names the URL redacted, never the token)."""


def read_token(file: str | None = None, env: str | None = None) -> str | None:
    """The bearer token from ``file`` or the variable ``env`` (ValueError names where, never the token)."""
    if file and env:
        raise ValueError("give --bearer-token-file or --bearer-token-env, not both")
    token: str | None = None
    if file:
        try:
            with open(file, "rb") as handle:
                data = handle.read(MAX_TOKEN_FILE_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"--bearer-token-file {_shown(file)}: {exc.strerror or 'cannot be read'}") from None
        if len(data) > MAX_TOKEN_FILE_BYTES:
            raise ValueError(f"--bearer-token-file {_shown(file)}: larger than {MAX_TOKEN_FILE_BYTES} bytes")
        token = data.decode("utf-8", "replace").strip()
        where = f"--bearer-token-file {_shown(file)}"
    elif env:
        token = os.environ.get(env, "").strip()
        where = f"--bearer-token-env {_shown(env)}"
        if not token:
            raise ValueError(f"{where}: the variable is not set or empty")
    if token is None:
        return None
    if not token or any(ord(c) < 0x21 or ord(c) > 0x7E for c in token):
        raise ValueError(f"{where}: the token is empty or holds whitespace or non-ASCII characters (not shown)")
    return token


def scrape(
    url: str,
    *,
    timeout: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    token: str | None = None,
) -> tuple[str, bool]:
    """``(exposition text, is OpenMetrics)`` of ``url``; :class:`ScrapeError` when it cannot be read.

    ``timeout`` bounds the whole exchange (connect, headers, body: a watchdog closes the connection when it is
    over, so a server dripping bytes cannot hold the check); the body (after gzip) is capped at ``max_bytes``.
    Redirects are not followed: the Authorization header must not be sent to wherever a redirect points.
    """
    import http.client
    import ssl

    parsed = urllib.parse.urlsplit(url)
    shown = _shown(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ScrapeError(f"{shown}: not an http(s) URL")
    try:
        port = parsed.port
    except ValueError:
        raise ScrapeError(f"{shown}: not a valid port") from None
    headers = {"Accept": OPENMETRICS_ACCEPT, "Accept-Encoding": "gzip", "User-Agent": "lukhas-obs-check"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    target = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    conn: http.client.HTTPConnection
    if parsed.scheme == "https":
        conn = http.client.HTTPSConnection(parsed.hostname, port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parsed.hostname, port, timeout=timeout)
    expired = threading.Event()
    connected: list[socket.socket] = []

    def watchdog() -> None:
        expired.set()
        for sock in connected:  # the response keeps reading from it after the connection object let go of it
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(timeout, watchdog)
    timer.daemon = True
    timer.start()
    try:
        conn.connect()
        connected.append(conn.sock)
        if expired.is_set():
            watchdog()
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        if 300 <= response.status < 400:
            where = _shown(response.getheader("Location") or "?")
            raise ScrapeError(f"{shown}: redirected ({response.status}) to {where}; give that URL (redirects are "
                              "not followed)")  # fmt: skip
        if response.status != 200:
            raise ScrapeError(f"{shown}: HTTP {response.status} {_shown(response.reason, 60)}")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = response.read1(64 * 1024)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise ScrapeError(f"{shown}: the body is larger than {max_bytes} bytes (--max-bytes)")
            chunks.append(chunk)
        body = b"".join(chunks)
        encoding = (response.getheader("Content-Encoding") or "").strip().lower()
        content_type = response.getheader("Content-Type") or ""
    except ScrapeError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:  # refused, reset, timed out, malformed
        if expired.is_set():
            raise ScrapeError(f"{shown}: the response did not arrive within {timeout:g}s") from None
        raise ScrapeError(f"{shown}: {_shown(exc, 200)}") from None
    finally:
        timer.cancel()
        conn.close()
    if expired.is_set():
        raise ScrapeError(f"{shown}: the response did not arrive within {timeout:g}s")
    if encoding == "gzip":
        body = _gunzip(body, max_bytes, shown)
    elif encoding not in ("", "identity"):
        raise ScrapeError(f"{shown}: unsupported Content-Encoding {_shown(encoding, 40)!r}")
    return body.decode("utf-8", "replace"), "openmetrics" in content_type.lower()


def _gunzip(body: bytes, max_bytes: int, where: str) -> bytes:
    """Decompress gzip, refusing output larger than ``max_bytes`` (a small bomb must not fill memory)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error:
        raise ScrapeError(f"{where}: the gzip body is corrupt") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise ScrapeError(f"{where}: the body is larger than {max_bytes} bytes once decompressed (--max-bytes)")
    return out


# ------------------------------------------------------------------------------------------------ OTLP receiver


class _Handler(BaseHTTPRequestHandler):
    server: _CaptureServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(CONNECTION_TIMEOUT_S)  # read now: the module's value when the connection arrives

    def log_message(self, format: str, *args: Any) -> None:
        return  # requests are counted, not logged

    def _answer(self, status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        capture = self.server.capture
        path = urllib.parse.urlsplit(self.path).path
        signal_name = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}.get(path)
        if signal_name is None:
            self._answer(404, b"not an OTLP/HTTP path (/v1/traces, /v1/metrics, /v1/logs)\n")
            return
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self._answer(411, b"Content-Length is required\n")
            return
        length = int(length_text)
        if length > capture.max_body:
            self._answer(413, b"request body too large\n")
            capture.rejected("a request body larger than the limit was refused")
            return
        body = self.rfile.read(length)
        if len(body) != length:
            self._answer(400, b"incomplete body\n")
            return
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if encoding == "gzip":
            try:
                body = _gunzip(body, capture.max_body, "OTLP request")
            except ScrapeError:
                self._answer(413, b"decompressed body too large or corrupt\n")
                capture.rejected("a gzip request body too large once decompressed (or corrupt) was refused")
                return
        elif encoding not in ("", "identity"):
            self._answer(415, b"unsupported Content-Encoding\n")
            return
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        status, reply, reply_type = capture.receive(signal_name, body, content_type)
        self._answer(status, reply, reply_type)

    def do_GET(self) -> None:
        self._answer(405, b"OTLP/HTTP takes POST\n")


class _CaptureServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    capture: OtlpCapture

    def __init__(self, address: tuple[str, int], capture: OtlpCapture) -> None:
        self.capture = capture
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # too many connections: close this one at once
            self.shutdown_request(request)
            return
        try:
            request.settimeout(CONNECTION_TIMEOUT_S)
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        def cut() -> None:  # a client that trickles bytes would renew the per-read timeout for ever
            with contextlib.suppress(OSError):
                request.shutdown(socket.SHUT_RDWR)

        lifetime = threading.Timer(MAX_CONNECTION_S, cut)
        lifetime.daemon = True
        lifetime.start()
        try:
            super().process_request_thread(request, client_address)
        finally:
            lifetime.cancel()
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that disconnects or times out is not our problem


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class OtlpCapture:
    """An OTLP/HTTP receiver that feeds what it decodes to a :class:`Checker` (``with OtlpCapture(...) as rx``).

    Binds loopback only unless ``allow_remote``; ``port=0`` picks a free port (read :attr:`port`).
    """

    def __init__(
        self,
        checker: Checker,
        host: str = "127.0.0.1",
        port: int = 4318,
        *,
        max_body: int = DEFAULT_MAX_BYTES,
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not _is_loopback(host):
            raise ValueError(
                f"--listen {_shown(host)}: not a loopback address; add --allow-remote to receive from other hosts"
            )
        self.checker = checker
        self.max_body = max_body
        self.requests: dict[str, int] = {"traces": 0, "metrics": 0, "logs": 0, "rejected": 0}
        self._lock = threading.Lock()
        try:
            self._server = _CaptureServer((host.strip("[]"), port), self)
        except OSError as exc:
            raise ValueError(f"--listen {_shown(host)}:{port}: cannot listen ({exc.strerror or exc})") from None
        self._thread: threading.Thread | None = None
        self.source = f"otlp://{host}:{self.port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        host = str(self._server.server_address[0])
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def start(self) -> OtlpCapture:
        self.checker.source(self.source)
        self._thread = threading.Thread(target=self._server.serve_forever, name="lukhas-obs-check-otlp", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OtlpCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def rejected(self, why: str) -> None:
        with self._lock:
            self.requests["rejected"] += 1
        self.checker.add(WARNING, "unreadable", self.source, why, self.source)

    def receive(self, signal_name: str, body: bytes, content_type: str) -> tuple[int, bytes, str]:
        """Decode one request and check it; returns the HTTP status, body and content type to answer with."""
        from google.protobuf import json_format
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        types: dict[str, tuple[Any, Any]] = {
            "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
            "metrics": (
                metrics_service_pb2.ExportMetricsServiceRequest,
                metrics_service_pb2.ExportMetricsServiceResponse,
            ),
            "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
        }
        request_type, response_type = types[signal_name]
        request = request_type()
        try:
            if content_type == "application/json":
                json_format.Parse(body.decode("utf-8"), request, ignore_unknown_fields=True)
                reply, reply_type = b"{}", "application/json"
            elif content_type in ("application/x-protobuf", "application/protobuf", ""):
                request.ParseFromString(body)
                reply, reply_type = response_type().SerializeToString(), "application/x-protobuf"
            else:
                return 415, b"Content-Type must be application/x-protobuf or application/json\n", "text/plain"
        except (DecodeError, json_format.ParseError, UnicodeDecodeError, ValueError, RecursionError):
            self.rejected(f"an undecodable {signal_name} request was refused")
            return 400, b"cannot decode the request\n", "text/plain"
        with self._lock:
            self.requests[signal_name] += 1
        if signal_name == "metrics":
            self.checker.otlp_metrics(request, self.source)
        elif signal_name == "traces":
            self.checker.otlp_traces(request, self.source)
        return 200, reply, reply_type


# ------------------------------------------------------------------------------------------------ the command


def _catalogs(names: Sequence[str] | None, systems: Sequence[str] | None, files: Sequence[str] | None) -> list[Any]:
    """The catalogs to check against (default: every known one), always with lukhas-obs' self-telemetry."""
    from lukhas_obs.catalog import builtin
    from lukhas_obs.generate import select_catalogs, shipped_catalogs

    chosen = select_catalogs(names, systems, files)
    cats = list(chosen if chosen is not None else shipped_catalogs())
    if all(c.name != "lukhas_obs_self" for c in cats):
        cats.append(builtin("lukhas_obs_self"))
    return cats


def _parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT or PORT (0 picks a free port)")
    return host or "127.0.0.1", int(port)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a finite number > 0")
    return value


def _byte_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("expected a whole number of bytes >= 1")
    return int(text)


def run_check(
    targets: Sequence[str],
    checker: Checker,
    *,
    listen: tuple[str, int] | None = None,
    duration: float = 10.0,
    allow_remote: bool = False,
    timeout: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    token: str | None = None,
    err: TextIO | None = None,
) -> CheckReport:
    """Check every target (URLs are scraped, anything else is a trace file or directory), then, with ``listen``,
    what arrives over OTLP/HTTP for ``duration`` seconds (SIGINT/SIGTERM end it early)."""
    err = err or sys.stderr
    for target in targets:
        if target.startswith(("http://", "https://")):
            try:
                text, openmetrics = scrape(target, timeout=timeout, max_bytes=max_bytes, token=token)
            except ScrapeError as exc:
                checker.unreadable_source(_shown(target), str(exc))
                continue
            checker.metrics_exposition(text, openmetrics=openmetrics, source=_shown(target))
        else:
            checker.trace_files(target)
    if listen is not None:
        host, port = listen
        with OtlpCapture(checker, host, port, max_body=max_bytes, allow_remote=allow_remote) as capture:
            print(
                f"lukhas-obs check: receiving OTLP/HTTP at {capture.endpoint} (/v1/traces, /v1/metrics) for "
                f"{duration:g}s",
                file=err,
                flush=True,
            )
            _wait(duration)
            summary = ", ".join(f"{k} {v}" for k, v in capture.requests.items())
            print(f"lukhas-obs check: received {summary}", file=err)
    return checker.report()


def _wait(duration: float) -> None:
    """Sleep ``duration`` seconds; SIGINT/SIGTERM (in the main thread) end it early."""
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, OSError):  # no signals here
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait(duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def check_command(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The ``lukhas-obs check`` handler: exit 0 (clean), 1 (error findings) or 2 (a source could not be read)."""
    out = out or sys.stdout
    err = err or sys.stderr
    if not args.targets and args.listen is None:
        print("lukhas-obs check: give a /metrics URL, a trace file, or --listen HOST:PORT", file=err)
        return 2
    token = read_token(args.bearer_token_file, args.bearer_token_env)
    checker = Checker(
        _catalogs(args.catalog, args.system, args.catalog_file),
        allow=args.allow or (),
        ignore_labels=args.ignore_label or (),
    )
    report = run_check(
        args.targets,
        checker,
        listen=args.listen,
        duration=args.duration,
        allow_remote=args.allow_remote,
        timeout=args.timeout,
        max_bytes=args.max_bytes,
        token=token,
        err=err,
    )
    if args.json:
        out.write(json.dumps(report.as_dict(), indent=2, sort_keys=True) + "\n")
    else:
        out.write(report.text(verbose=args.verbose))
    return report.exit_code


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lukhas-obs check`` to the command line."""
    parser = sub.add_parser(
        "check",
        help="check emitted telemetry (/metrics, trace files, OTLP) against the catalogs",
        description="Check what a service emits against the catalogs: unknown metrics, wrong kinds, units or "
        "labels, undeclared span names or attributes. TARGET is a /metrics URL (scraped) or a trace file or "
        "directory (OTLP/JSON lines); --listen receives OTLP/HTTP for --duration seconds. Exit 0: clean; 1: error "
        "findings; 2: a source could not be read or a bad argument.",
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="a /metrics URL, or a trace file or directory")
    parser.add_argument(
        "--listen", type=_parse_listen, default=None, metavar="HOST:PORT",
        help="receive OTLP/HTTP here (loopback only unless --allow-remote; port 0 picks one)",
    )  # fmt: skip
    parser.add_argument("--duration", type=_positive, default=10.0, help="seconds to receive with --listen (10)")
    parser.add_argument("--allow-remote", action="store_true", help="let --listen bind a non-loopback address")
    parser.add_argument("--catalog", action="append", metavar="NAME", help="check against this known catalog")
    parser.add_argument("--system", action="append", metavar="NAME", help="check against this system's catalogs")
    parser.add_argument("--catalog-file", action="append", metavar="PATH", help="check against this catalog YAML")
    parser.add_argument(
        "--allow", action="append", metavar="GLOB", help="metric or span names not to check (another library's)"
    )
    parser.add_argument("--ignore-label", action="append", metavar="LABEL", help="a label allowed on every series")
    parser.add_argument("--bearer-token-file", metavar="FILE", help="send the token in FILE to the /metrics URL")
    parser.add_argument("--bearer-token-env", metavar="VAR", help="send the token in variable VAR to the URL")
    parser.add_argument("--timeout", type=_positive, default=10.0, help="seconds to scrape one URL, in all (10)")
    parser.add_argument(
        "--max-bytes", type=_byte_count, default=DEFAULT_MAX_BYTES, help="largest body accepted (32 MiB)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--verbose", "-v", action="store_true", help="also list what is declared but not seen")
    parser.set_defaults(handler=check_command)


def iter_findings(report: CheckReport, severity: str | None = None) -> Iterator[Finding]:
    """The report's findings, only those of ``severity`` if given."""
    return (f for f in report.findings if severity is None or f.severity == severity)
