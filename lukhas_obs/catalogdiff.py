"""``lukhas-obs catalog diff OLD NEW``: what a catalog change breaks, before it ships.

Teams rename a metric and find out from a silent dashboard. This compares two versions of a catalog and lists:

- **changes**: metrics removed, renamed (a removed and an added metric paired up: same OTel name, or same kind and
  labels with a similar name), added; per metric a changed kind, unit, OTel name, removed or added labels, removed
  or added values of enumerated labels, changed bucket boundaries; spans removed, renamed, added, their attributes
  and kinds; recording rules and alerts the new catalog no longer generates;
- **affected artefacts**: every alert, recording rule, dashboard panel and dashboard variable generated from the
  OLD catalog (what is deployed today: ``lukhas-obs generate``'s rule and dashboard builders, the same expressions)
  whose query selects a removed or renamed series, a removed label of the metric it reads, an ``le`` boundary the
  new buckets lack, or a recording rule that is affected itself (followed transitively: an alert on a recording rule
  on a renamed metric is listed, "via" the rule). Those go silent when the new catalog is deployed until they are
  regenerated — and series of a renamed metric start from nothing, so their history is gone;
- the NEW catalog's own ``slos:``/``dashboards:`` that still name what it removed (it then fails to load; each
  problem is listed) — the NEW side of the same question;
- with ``--scan PATH`` (Prometheus rule files, Grafana dashboard JSON, or directories of them), hand-written
  artefacts checked the same way against the new catalog.

Exit status: 0 when nothing breaks, 1 when something does (a breaking change or an affected artefact), 2 for a bad
argument or an OLD catalog that does not load. ``--json`` prints the report as one JSON document.

Expressions are read with :func:`lukhas_obs.generate.promql.metric_references` (a lexer, fit for generated
expressions and ordinary hand-written ones) and a matcher/label-list scan of the same kind.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # pragma: no cover - typing only
    from lukhas_obs.catalog.spec import Catalog, MetricSpec, SpanSpec

__all__ = [
    "AffectedArtefact",
    "CatalogDiff",
    "Change",
    "diff_catalogs",
    "diff_command",
    "load_side",
]

BREAKING, WARNING, INFO = "breaking", "warning", "info"
#: Name similarity (difflib ratio) above which a removed and an added metric of the same shape are a rename.
RENAME_SIMILARITY = 0.6
#: Largest rule/dashboard file ``--scan`` reads.
MAX_SCAN_BYTES = 16 * 1024 * 1024

_LABEL_LIST_RE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", re.I)
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_BEFORE_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\Z")
_MATCHER_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')')
_LABEL_VALUES_RE = re.compile(r"label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)")
_LEGEND_RE = re.compile(r"\{\{\s*\.?([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Change:
    """One difference between the catalogs; ``severity`` is breaking, warning or info."""

    severity: str
    kind: str
    subject: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"severity": self.severity, "kind": self.kind, "subject": self.subject, "message": self.message}


@dataclass(frozen=True)
class AffectedArtefact:
    """An alert, recording rule, dashboard panel or variable whose query reads something the change removes."""

    artefact: str  # alert, recording rule, dashboard panel, dashboard variable (+ " (file)" for --scan)
    where: str  # the rule file and group, or the dashboard uid
    name: str
    expr: str
    missing: tuple[str, ...]
    via: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "artefact": self.artefact,
            "where": self.where,
            "name": self.name,
            "expr": self.expr,
            "missing": list(self.missing),
            "via": list(self.via),
        }


@dataclass
class CatalogDiff:
    """The result: changes, affected artefacts, and the renames found (old sample name → new)."""

    old: str
    new: str
    changes: list[Change] = field(default_factory=list)
    affected: list[AffectedArtefact] = field(default_factory=list)
    renames: dict[str, str] = field(default_factory=dict)

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.severity == BREAKING]

    @property
    def breaks(self) -> bool:
        return bool(self.breaking or self.affected)

    @property
    def exit_code(self) -> int:
        return 1 if self.breaks else 0

    def names(self, artefact: str) -> list[str]:
        """Names of the affected artefacts of one kind (``alert``, ``dashboard panel``, ...)."""
        return [a.name for a in self.affected if a.artefact == artefact]

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "breaks": self.breaks,
            "exit_code": self.exit_code,
            "changes": [c.as_dict() for c in self.changes],
            "affected": [a.as_dict() for a in self.affected],
            "renames": dict(self.renames),
        }

    def text(self) -> str:
        verdict = "BREAKING" if self.breaks else "OK"
        lines = [
            f"lukhas-obs catalog diff {self.old} → {self.new}: {verdict}: {len(self.breaking)} breaking change(s), "
            f"{len(self.affected)} artefact(s) read what changed"
        ]
        for change in self.changes:
            lines.append(f"{change.severity:<9} {change.kind:<24} {change.subject}: {change.message}")
        if self.affected:
            lines.append("")
            lines.append("Artefacts of the old catalog that read what changed (silent until regenerated; a renamed")
            lines.append("metric's history does not carry over):")
            for a in self.affected:
                missing = ", ".join(self._missing_text(m) for m in a.missing)
                via = f" via {', '.join(a.via)}" if a.via else ""
                lines.append(f"  {a.artefact:<18} {a.where} {a.name}: reads {missing}{via}")
        return "\n".join(lines) + "\n"

    def _missing_text(self, name: str) -> str:
        new = self.renames.get(name)
        return f"{name} (now {new})" if new else name


# ------------------------------------------------------------------------------------------------ loading


def load_side(source: str, what: str) -> tuple[Catalog, list[str]]:
    """A catalog by path (or by known catalog name), and the problems of its ``slos:``/``dashboards:`` if they do
    not load (the metrics and spans must: otherwise CatalogError)."""
    from lukhas_obs.catalog import load_catalog
    from lukhas_obs.errors import CatalogError

    path = Path(source)
    if not path.is_file():
        from lukhas_obs.generate import select_catalogs

        if path.suffix in (".yaml", ".yml") or "/" in source:
            raise ValueError(f"{what} {source!r}: no such file")
        chosen = select_catalogs(names=[source])
        assert chosen is not None
        catalog = chosen[0]
        try:
            _ = (catalog.slos, catalog.dashboards)
        except CatalogError as exc:
            return catalog, list(exc.problems)
        return catalog, []
    try:
        return load_catalog(path), []
    except CatalogError as full:
        catalog = load_catalog(path, defer_sections=True)  # metrics and spans: raises if they are bad too
        return catalog, list(full.problems)


# ------------------------------------------------------------------------------------------------ expressions


def _strip_strings(expr: str) -> str:
    return _STRING_RE.sub('""', expr)


def labels_used(expr: str) -> set[str]:
    """Label names an expression uses: in ``by``/``without``/``on``/``ignoring`` lists and in matchers."""
    out: set[str] = set()
    plain = _strip_strings(expr)
    for match in _LABEL_LIST_RE.finditer(plain):
        out.update(part.strip() for part in match.group(1).split(",") if part.strip())
    for _name, body in _selectors(expr):
        out.update(label for label, _op, _value in body)
    out.discard("__name__")
    return out


def _selectors(expr: str) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """``(metric name or "", [(label, op, value)])`` of every ``{...}`` selector (braces in strings are text)."""
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch in "\"'`":
            string = _STRING_RE.match(expr, i)
            i = string.end() if string else n
            continue
        if ch != "{":
            i += 1
            continue
        name = _NAME_BEFORE_RE.search(expr, max(0, i - 256), i)  # bounded: linear in the expression
        j = i + 1
        while j < n and expr[j] != "}":
            string = _STRING_RE.match(expr, j) if expr[j] in "\"'`" else None
            j = string.end() if string else j + 1
        body = expr[i + 1 : j]
        matchers = [(m.group(1), m.group(2), m.group(3)[1:-1]) for m in _MATCHER_RE.finditer(body)]
        yield (name.group(1) if name else ""), matchers
        i = j + 1


# ------------------------------------------------------------------------------------------------ the diff


def _same_shape(a: MetricSpec, b: MetricSpec) -> bool:
    return a.kind == b.kind and {x.key for x in a.attributes} == {x.key for x in b.attributes}


def _pair_renames(
    removed: Sequence[MetricSpec], added: Sequence[MetricSpec]
) -> list[tuple[MetricSpec, MetricSpec, str]]:
    """Removed/added metrics that are one metric renamed, best match first; with the reason of each pairing."""
    candidates: list[tuple[float, int, int, str]] = []
    for i, old in enumerate(removed):
        for j, new in enumerate(added):
            ratio = difflib.SequenceMatcher(None, old.name, new.name).ratio()
            if old.otel_name == new.otel_name:
                candidates.append((2.0 + ratio, i, j, "same OTel name"))
            elif _same_shape(old, new) and (ratio >= RENAME_SIMILARITY or old.description == new.description):
                why = "same kind and labels" + (", same description" if old.description == new.description else "")
                candidates.append((1.0 + ratio, i, j, why))
    pairs, used_old, used_new = [], set(), set()
    for _score, i, j, why in sorted(candidates, key=lambda c: -c[0]):
        if i in used_old or j in used_new:
            continue
        used_old.add(i)
        used_new.add(j)
        pairs.append((removed[i], added[j], why))
    return pairs


def _sample_map(old: MetricSpec, new: MetricSpec) -> dict[str, str]:
    """Old sample name → new sample name of a renamed metric (suffix by suffix)."""
    out = {}
    for sample in old.sample_names:
        suffix = sample[len(old.name) :] if sample.startswith(old.name) else ""
        base = new.name
        if old.name.endswith("_total") and new.name.endswith("_total") and suffix.startswith("_created"):
            out[sample] = new.name[: -len("_total")] + "_created"
            continue
        out[sample] = base + suffix
    return out


def _metric_changes(old: MetricSpec, new: MetricSpec, out: list[Change]) -> None:
    from lukhas_obs.catalog.slo import le_label

    name = new.name if new.name == old.name else f"{old.name} → {new.name}"
    if old.kind != new.kind:
        out.append(Change(BREAKING, "kind_changed", name, f"kind {old.kind} → {new.kind}: its series change type"))
    if old.unit != new.unit:
        out.append(Change(BREAKING, "unit_changed", name, f"unit {old.unit!r} → {new.unit!r}: values change meaning"))
    if old.otel_name != new.otel_name:
        out.append(
            Change(
                BREAKING, "otel_name_changed", name,
                f"OTel name {old.otel_name} → {new.otel_name}: OTLP consumers see another metric",
            )
        )  # fmt: skip
    old_labels, new_labels = set(old.label_names), set(new.label_names)
    for label in sorted(old_labels - new_labels):
        out.append(Change(BREAKING, "label_removed", name, f"label {label!r} removed"))
    for label in sorted(new_labels - old_labels):
        out.append(
            Change(WARNING, "label_added", name, f"label {label!r} added: every series splits by it")
        )  # fmt: skip
    new_attrs = {a.key: a for a in new.attributes}
    for attr in old.attributes:
        twin = new_attrs.get(attr.key)
        if twin is None or attr.values is None or twin.values is None:
            continue
        gone = [v for v in attr.values if v not in twin.values]
        came = [v for v in twin.values if v not in attr.values]
        if gone:
            out.append(
                Change(
                    WARNING, "label_values_removed", name,
                    f"label {attr.label!r} loses value(s) {', '.join(gone)} (now folded to {twin.fold_to!r})",
                )
            )  # fmt: skip
        if came:
            out.append(Change(INFO, "label_values_added", name, f"label {attr.label!r} gains {', '.join(came)}"))
    if old.buckets != new.buckets and old.buckets and new.buckets:
        gone = [le_label(b) for b in old.buckets if b not in new.buckets]
        came = [le_label(b) for b in new.buckets if b not in old.buckets]
        detail = "; ".join(p for p in (f"removed le {', '.join(gone)}" if gone else "",
                                       f"added le {', '.join(came)}" if came else "") if p)  # fmt: skip
        out.append(Change(WARNING, "buckets_changed", name, f"bucket boundaries changed ({detail or 'reordered'})"))
    if old.description.strip() != new.description.strip():
        out.append(Change(INFO, "description_changed", name, "description changed"))


def _span_names(catalog: Catalog) -> dict[str, SpanSpec]:
    return {concrete: s for s in catalog.spans for concrete in s.names()}


def _span_changes(old: Catalog, new: Catalog, out: list[Change]) -> None:
    before, after = _span_names(old), _span_names(new)
    removed = [n for n in before if n not in after]
    added = [n for n in after if n not in before]
    renamed: dict[str, str] = {}
    for name in removed:
        spec = before[name]
        close = [
            n for n in difflib.get_close_matches(name, added, n=3, cutoff=RENAME_SIMILARITY)
            if n not in renamed.values() and after[n].component == spec.component
        ]  # fmt: skip
        if close:
            renamed[name] = close[0]
    for name in removed:
        if name in renamed:
            out.append(Change(BREAKING, "span_renamed", f"{name} → {renamed[name]}", "span renamed"))
        else:
            out.append(Change(BREAKING, "span_removed", name, "span removed"))
    for name in added:
        if name not in renamed.values():
            out.append(Change(INFO, "span_added", name, "span added"))
    for name, spec in before.items():
        twin = after.get(renamed.get(name, name))
        if twin is None:
            continue
        shown = name if twin is after.get(name) else f"{name} → {renamed[name]}"
        for attr in spec.attributes:
            if attr not in twin.attributes:
                out.append(Change(BREAKING, "span_attribute_removed", shown, f"attribute {attr!r} removed"))
        for attr in twin.attributes:
            if attr not in spec.attributes:
                out.append(Change(INFO, "span_attribute_added", shown, f"attribute {attr!r} added"))
        if spec.kind != twin.kind:
            out.append(Change(BREAKING, "span_kind_changed", shown, f"span kind {spec.kind} → {twin.kind}"))


@dataclass(frozen=True)
class _Query:
    artefact: str
    where: str
    name: str
    expr: str
    record: str | None = None  # the record a recording rule defines
    legend: str = ""


def _rule_queries(documents: Mapping[str, Any], suffix: str = "") -> list[_Query]:
    out = []
    for stem, doc in documents.items():
        for group in (doc or {}).get("groups") or ():
            if not isinstance(group, Mapping):
                continue
            for rule in group.get("rules") or ():
                if not isinstance(rule, Mapping) or not isinstance(rule.get("expr"), str):
                    continue
                where = f"{stem} {group.get('name', '?')}"
                if "record" in rule:
                    out.append(_Query("recording rule" + suffix, where, str(rule["record"]), rule["expr"],
                                      record=str(rule["record"])))  # fmt: skip
                else:
                    out.append(_Query("alert" + suffix, where, str(rule.get("alert", "?")), rule["expr"]))
    return out


def _generated_queries(catalog: Catalog) -> list[_Query]:
    """Every query the generated artefacts of ``catalog`` run (rules, then dashboard panels and variables)."""
    from lukhas_obs.catalog.kinds import KINDS
    from lukhas_obs.generate import dashboards, rules

    documents = {f"{stem}.yml": doc for stem, doc in rules.rule_documents(catalog).items()}
    out = _rule_queries(documents)
    for dash in catalog.dashboards:
        for var in dash.variables:
            metric = catalog.metric(var.metric)
            sample = f"{metric.name}_bucket" if KINDS[metric.kind].buckets else metric.name
            out.append(_Query("dashboard variable", dash.uid, f"${var.name} label_values({sample}, {var.name})",
                              sample, legend=f"{{{{{var.name}}}}}"))  # fmt: skip
        for panel, query, expr in dashboards.panel_queries(catalog, dash):
            out.append(_Query("dashboard panel", dash.uid, repr(panel.title), expr, legend=query.legend))
    return out


def _records(queries: Iterable[_Query]) -> dict[str, _Query]:
    return {q.record: q for q in queries if q.record}


def _affected(
    queries: Sequence[_Query],
    old: Catalog | None,
    new: Catalog,
    new_records: set[str] | None,
) -> list[AffectedArtefact]:
    """The queries that read a series, label or ``le`` boundary ``new`` does not have (recording rules of the same
    artefact set followed transitively). ``new_records``: the records the new catalog generates (None: unknown)."""
    from lukhas_obs.catalog.kinds import KINDS
    from lukhas_obs.catalog.slo import SYNTHETIC_SERIES, le_label
    from lukhas_obs.generate.promql import metric_references

    new_samples = {sample: m for m in new.metrics for sample in m.sample_names}
    old_samples = {sample: m for m in old.metrics for sample in m.sample_names} if old is not None else {}
    records = _records(queries)

    def own_problems(q: _Query) -> tuple[set[str], set[str]]:
        """(missing names and labels, records read) of one query, without following records."""
        refs = metric_references(q.expr)
        missing: set[str] = set()
        via: set[str] = set()
        for ref in refs:
            if ref in records:
                via.add(ref)
                if new_records is not None and ref not in new_records and old is not None:
                    missing.add(ref)  # a recording rule the new catalog no longer generates
            elif ref not in new_samples and ref not in SYNTHETIC_SERIES:
                missing.add(ref)
        used = labels_used(q.expr) | set(_LEGEND_RE.findall(q.legend or ""))
        for ref in refs:
            owner = new_samples.get(ref)
            if owner is None:
                continue
            before = old_samples.get(ref, owner)
            gone = (set(before.label_names) - set(owner.label_names)) & used
            missing.update(f"{ref} label {label}" for label in sorted(gone))
            if KINDS[owner.kind].buckets and ref.endswith("_bucket"):
                bounds = {le_label(b) for b in owner.buckets or ()} | {"+Inf"}
                for name, matchers in _selectors(q.expr):
                    if name != ref:
                        continue
                    for label, op, value in matchers:
                        if label == "le" and op == "=" and value not in bounds:
                            missing.add(f'{ref}{{le="{value}"}}')
        return missing, via

    direct = {id(q): own_problems(q) for q in queries}
    broken_records: dict[str, set[str]] = {}
    changed = True
    while changed:  # fixpoint over recording rules reading recording rules
        changed = False
        for name, q in records.items():
            missing, via = direct[id(q)]
            if name not in broken_records and (missing or any(v in broken_records for v in via)):
                broken_records[name] = missing
                changed = True

    merged: dict[tuple[str, str, str], tuple[_Query, set[str], set[str]]] = {}
    for q in queries:
        missing, via = direct[id(q)]
        through = sorted(v for v in via if v in broken_records)
        if not missing and not through:
            continue
        inherited = set(missing)
        seen: set[str] = set()
        stack = list(through)
        while stack:  # what the records it reads miss, transitively
            record = stack.pop()
            if record in seen:
                continue
            seen.add(record)
            inherited |= broken_records.get(record, set())
            stack += [v for v in direct[id(records[record])][1] if v in broken_records]
        key = (q.artefact, q.where, q.name)  # a panel's queries are one artefact
        if key in merged:
            merged[key][1].update(inherited)
            merged[key][2].update(through)
        else:
            merged[key] = (q, inherited, set(through))
    return [
        AffectedArtefact(q.artefact, q.where, q.name, q.expr, tuple(sorted(missing)), tuple(sorted(via)))
        for q, missing, via in merged.values()
    ]


def diff_catalogs(
    old: Catalog,
    new: Catalog,
    *,
    new_problems: Sequence[str] = (),
    old_label: str = "OLD",
    new_label: str = "NEW",
    scan: Sequence[str | Path] = (),
) -> CatalogDiff:
    """Compare ``old`` with ``new`` (see the module docstring). ``new_problems``: why NEW's sections do not load."""
    result = CatalogDiff(old_label, new_label)
    changes = result.changes
    before = {m.name: m for m in old.metrics}
    after = {m.name: m for m in new.metrics}
    removed = [m for n, m in before.items() if n not in after]
    added = [m for n, m in after.items() if n not in before]
    pairs = _pair_renames(removed, added)
    paired_old = {o.name for o, _n, _w in pairs}
    paired_new = {n.name for _o, n, _w in pairs}
    for old_spec, new_spec, why in pairs:
        changes.append(Change(BREAKING, "metric_renamed", f"{old_spec.name} → {new_spec.name}", f"renamed ({why})"))
        result.renames.update(_sample_map(old_spec, new_spec))
        _metric_changes(old_spec, new_spec, changes)
    for spec in removed:
        if spec.name not in paired_old:
            changes.append(Change(BREAKING, "metric_removed", spec.name, "metric removed"))
    for spec in added:
        if spec.name not in paired_new:
            changes.append(Change(INFO, "metric_added", spec.name, f"metric added ({spec.kind})"))
    for name, spec in before.items():
        if name in after:
            _metric_changes(spec, after[name], changes)
    _span_changes(old, new, changes)

    old_queries = _generated_queries(old)
    new_records: set[str] | None = None
    for problem in new_problems:
        changes.append(Change(BREAKING, "new_sections_invalid", new_label, problem))
    if not new_problems:
        new_queries = _generated_queries(new)
        new_records = set(_records(new_queries))
        for q in old_queries:
            if q.record and q.record not in new_records:
                changes.append(Change(BREAKING, "record_removed", q.record, "the new catalog no longer generates it"))
        new_alerts = {q.name for q in new_queries if q.artefact == "alert"}
        for q in old_queries:
            if q.artefact == "alert" and q.name not in new_alerts:
                changes.append(Change(WARNING, "alert_removed", q.name, "the new catalog no longer generates it"))
    result.affected += _affected(old_queries, old, new, new_records)
    for path in scan:
        result.affected += _affected(_scanned_queries(Path(path)), None, new, new_records)
    return result


# ------------------------------------------------------------------------------------------------ --scan


def _scan_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"--scan {str(path)!r}: no such file or directory")
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml", ".json"))


def _read(path: Path) -> str:
    with open(path, "rb") as handle:
        data = handle.read(MAX_SCAN_BYTES + 1)
    if len(data) > MAX_SCAN_BYTES:
        raise ValueError(f"--scan {str(path)!r}: larger than {MAX_SCAN_BYTES} bytes")
    return data.decode("utf-8", "replace")


def _dashboard_queries(doc: Any, where: str) -> Iterator[_Query]:
    """Every ``targets[].expr`` (titled by its panel) and ``templating.list[].query`` of a Grafana dashboard."""
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        node, title = stack.pop()
        if isinstance(node, dict):
            title = str(node.get("title", title)) if "targets" in node or "panels" in node else title
            for target in node.get("targets") or () if isinstance(node.get("targets"), list) else ():
                if isinstance(target, dict) and isinstance(target.get("expr"), str):
                    yield _Query("dashboard panel (file)", where, repr(title), target["expr"],
                                 legend=str(target.get("legendFormat", "")))  # fmt: skip
            for value in node.values():
                if isinstance(value, (dict, list)):
                    stack.append((value, title))
        elif isinstance(node, list):
            stack.extend((item, title) for item in node)
    templating = doc.get("templating", {}) if isinstance(doc, dict) else {}
    for var in (templating.get("list") or []) if isinstance(templating, dict) else []:
        query = var.get("query") if isinstance(var, dict) else None
        text = query.get("query") if isinstance(query, dict) else query
        if isinstance(text, str) and text:
            name = f"${var.get('name', '?')}"
            found = _LABEL_VALUES_RE.search(text)
            if found:  # label_values(series, label): the series is read, the label is used
                yield _Query("dashboard variable (file)", where, f"{name} {text.strip()}", found.group(1),
                             legend=f"{{{{{found.group(2)}}}}}")  # fmt: skip
            else:
                yield _Query("dashboard variable (file)", where, name, text)


def _scanned_queries(path: Path) -> list[_Query]:
    import yaml

    out: list[_Query] = []
    for file in _scan_files(path):
        text = _read(file)
        if file.suffix == ".json":
            try:
                doc = json.loads(text)
            except ValueError:
                raise ValueError(f"--scan {str(file)!r}: not JSON") from None
            out += list(_dashboard_queries(doc, file.name))
        else:
            try:
                doc = yaml.safe_load(text)
            except yaml.YAMLError:
                raise ValueError(f"--scan {str(file)!r}: not YAML") from None
            if isinstance(doc, Mapping) and isinstance(doc.get("groups"), list):
                out += _rule_queries({file.name: doc}, " (file)")
    return out


# ------------------------------------------------------------------------------------------------ the command


def diff_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``lukhas-obs catalog diff OLD NEW``: exit 0 (nothing breaks) or 1 (something does)."""
    from lukhas_obs.errors import CatalogError

    out = out or sys.stdout
    old, old_problems = load_side(args.old, "OLD")
    if old_problems:
        raise CatalogError(old.name, old_problems)
    new, new_problems = load_side(args.new, "NEW")
    result = diff_catalogs(
        old, new, new_problems=new_problems, old_label=args.old, new_label=args.new, scan=args.scan or ()
    )
    if args.json:
        out.write(json.dumps(result.as_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(result.text())
    return result.exit_code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``catalog diff`` (the parser lives with the ``catalog`` command)."""
    parser.add_argument("old", metavar="OLD", help="the catalog YAML before the change (or a known catalog's name)")
    parser.add_argument("new", metavar="NEW", help="the catalog YAML after the change")
    parser.add_argument(
        "--scan", action="append", metavar="PATH",
        help="also check these Prometheus rule files / Grafana dashboard JSON (files or directories) against NEW",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=diff_command)
