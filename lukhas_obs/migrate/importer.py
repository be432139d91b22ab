"""``lukhas-obs catalog import MODULE``: the catalog YAML of an existing prometheus_client metrics module.

A service written against prometheus_client defines its metrics as module globals (``Gauge('x', 'help', ['a'])``).
Migrating it to lukhas-obs starts with a catalog declaring the same metrics, with the same Prometheus names, kinds,
help texts, label names and bucket boundaries, so the port's ``/metrics`` keeps every series the dashboards and
alerts already query. Writing that catalog by hand for Luna's 44 metrics is slow and error-prone; this module writes
it from the module itself.

How the metrics are found. The module is imported (that import is the only user code this runs: no metric method,
no collector's ``collect()``, no ``__str__`` or ``__repr__`` of a user object is ever called — definitions are read
from the metric objects' own fields). Then:

* module globals that are prometheus_client metrics (``MetricWrapperBase`` instances), in definition order;
* the collectors of every ``CollectorRegistry`` the module defines as a global (pForge-style "own registry");
* the collectors the import added to the default ``REGISTRY`` (a before/after diff: metrics kept in lists or
  defined by modules the import pulled in).

How each maps. Counter → ``counter`` (name with ``_total``); Gauge → ``gauge``; Histogram → ``histogram`` with its
buckets minus ``+Inf`` (exact floats, so ``le="1.0"`` stays ``le="1.0"``); Info → ``kind: info`` named by its sample
(``luna_system_info``); Summary → refused, or converted to a histogram with ``--summary-buckets``; Enum and custom
collectors → refused with a suggestion. Units come from the name's suffix through the OTel exporter's own unit table
read backwards (``_seconds`` → ``s``, ``_bytes`` → ``By``, ``_percent`` → ``%``, anything else ``1``), and each
``otel_name`` is chosen so that the exporter derives exactly the prometheus_client name from it
(:func:`lukhas_obs.catalog.naming.prometheus_name`, the loader's own check).

Nothing is dropped silently: every metric that cannot be expressed, and every difference the port will show, is a
:class:`Finding`, printed on stderr and written as a YAML comment where it applies. Label names the scrubber reads as
credentials (``signature_fractale``) are written ``secret: false`` with a ``CONFIRM`` comment: the user decides.
The output is deterministic (same module, same bytes) and every value is emitted by PyYAML.

Three keys are written that the catalog schema is only now gaining: ``kind: info``, ``common_labels: []``
(prometheus_client metrics carry no lane/service labels) and the attribute option ``secret: false``;
:func:`pending_keys` says which of them this version of lukhas-obs does not accept yet.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import itertools
import math
import os
import re
import sys
import tempfile
import textwrap
import threading
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from opentelemetry.exporter.prometheus._mapping import _PER_UNIT_MAPPINGS, _UNIT_MAPPINGS
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.utils import floatToGoString

from lukhas_obs.catalog.kinds import KINDS
from lukhas_obs.catalog.naming import prometheus_name, sample_names
from lukhas_obs.catalog.spec import AttributeSpec, Catalog, MetricSpec, as_kind
from lukhas_obs.errors import CatalogError
from lukhas_obs.scrubbing import Scrubber

__all__ = [
    "COMMON_LABELS_KEY",
    "INFO_KIND",
    "MAX_BUCKETS",
    "SECRET_KEY",
    "START_AT_ZERO_KEY",
    "Finding",
    "ImportFailed",
    "ImportResult",
    "ImportedMetric",
    "RefusedMetric",
    "choose_otel_name",
    "default_catalog_name",
    "import_catalog",
    "infer_unit",
    "main",
    "parse_buckets",
    "pending_keys",
    "promtool_warnings",
    "register_cli",
    "render_yaml",
    "run_import_command",
]

#: The catalog kind of a prometheus_client Info (being added to the catalog schema).
INFO_KIND = "info"
#: Catalog-level list of the labels filled from settings on every series; ``[]``: none (being added).
COMMON_LABELS_KEY = "common_attributes"
#: Attribute option declaring a label the credential heuristic matches "not a secret" (being added).
SECRET_KEY = "secret"
#: Catalog option: unlabelled metrics present at 0 from configure, as prometheus_client shows them (written once
#: the catalog schema has it).
START_AT_ZERO_KEY = "start_at_zero"

#: Longest text (an exception message, a name) quoted in a message or a comment.
_MAX_QUOTED = 200
#: Longest help text the catalog accepts (``schema.MAX_TEXT``); longer ones are cut, and said so.
_MAX_HELP = 4096
#: Most ``--summary-buckets`` boundaries.
MAX_BUCKETS = 1000
#: A catalog name (``catalog:``) as the loader requires it.
_CATALOG_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_OTEL_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-/]{0,254}$")

Severity = Literal["refused", "warning", "note"]


class ImportFailed(Exception):
    """The module could not be imported (or named): the command exits 2 with this message."""


@dataclass(frozen=True)
class Finding:
    """Something the catalog cannot say, or a difference the port will show.

    ``refused``: the metric is not in the catalog. ``warning``: it is, but the user must check something (printed on
    stderr and written as a YAML comment). ``note``: context written as a YAML comment only.
    """

    metric: str
    severity: Severity
    message: str
    #: Written as a YAML comment too (False: said elsewhere in the YAML, or about this run rather than the module).
    in_yaml: bool = True

    def line(self) -> str:
        """One line for stderr."""
        where = f"{_quote(self.metric)}: " if self.metric else ""
        return f"{self.severity}: {where}{self.message}"


@dataclass(frozen=True)
class ImportedMetric:
    """One catalog entry, with where it was found and what to tell the user about it."""

    name: str
    otel_name: str
    kind: str
    unit: str
    description: str
    attributes: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None
    source: str = ""
    findings: tuple[Finding, ...] = ()

    def document(self) -> dict[str, Any]:
        """The metric's catalog mapping."""
        doc: dict[str, Any] = {
            "name": self.name,
            "otel_name": self.otel_name,
            "kind": self.kind,
            "unit": self.unit,
            "description": self.description,
        }
        if self.buckets is not None:
            doc["buckets"] = list(self.buckets)
        if self.attributes:
            doc["attributes"] = list(self.attributes)
        return doc


@dataclass(frozen=True)
class RefusedMetric:
    """A metric (or collector) found in the module and not written to the catalog, with why."""

    name: str
    what: str
    source: str
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class ImportResult:
    """What ``catalog import`` found: the entries in module order, the label table and module-level findings."""

    module: str
    catalog_name: str
    entries: tuple[ImportedMetric | RefusedMetric, ...]
    secret_labels: dict[str, str] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    @property
    def metrics(self) -> tuple[ImportedMetric, ...]:
        return tuple(e for e in self.entries if isinstance(e, ImportedMetric))

    @property
    def refused(self) -> tuple[RefusedMetric, ...]:
        return tuple(e for e in self.entries if isinstance(e, RefusedMetric))

    def all_findings(self) -> list[Finding]:
        """Module-level findings first, then each entry's, in entry order."""
        found = list(self.findings)
        for entry in self.entries:
            found.extend(entry.findings)
        return found

    def labels(self) -> list[str]:
        """Every label the imported metrics use, sorted (the catalog's ``attributes:`` keys)."""
        return sorted({label for m in self.metrics for label in m.attributes})

    def document(self) -> dict[str, Any]:
        """The catalog as data: what the YAML says, without its comments."""
        attributes = {
            label: ({SECRET_KEY: False} if label in self.secret_labels else {}) for label in self.labels()
        }
        doc: dict[str, Any] = {
            "catalog": self.catalog_name,
            "title": f"Imported from the prometheus_client module {self.module}",
            COMMON_LABELS_KEY: [],
        }
        if _catalog_accepts(START_AT_ZERO_KEY):
            doc[START_AT_ZERO_KEY] = True
        if attributes:
            doc["attributes"] = attributes
        doc["metrics"] = [m.document() for m in self.metrics]
        return doc

    def to_yaml(self) -> str:
        """The catalog YAML, comments included: deterministic, every value emitted by PyYAML."""
        return render_yaml(self)


# ------------------------------------------------------------------------------------------------ reading objects


def _quote(text: object) -> str:
    """``text`` shown safely in one line: non-printable characters escaped, bounded (never calls user code)."""
    if not isinstance(text, str):
        return "<not a string>"
    plain = str.__str__(text)
    if len(plain) > _MAX_QUOTED:
        plain = plain[:_MAX_QUOTED] + "…"
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in plain)


def _plain_str(value: object) -> str | None:
    """``value`` as an exact ``str`` (a str subclass is copied without calling its methods), or None."""
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    return None


def _fields(obj: object) -> dict[str, Any]:
    """An object's instance dictionary, read without its ``__getattr__`` or properties ({} if unreadable)."""
    try:
        data = object.__getattribute__(obj, "__dict__")
    except Exception:
        return {}
    return data if type(data) is dict else {}


def _type_name(obj: object) -> str:
    try:
        return _quote(type.__getattribute__(type(obj), "__qualname__"))
    except Exception:
        return "<unknown type>"


def _is_instance(obj: object, cls: type) -> bool:
    """``isinstance`` by the object's real type (``type()`` cannot be faked by a ``__class__`` property)."""
    try:
        return issubclass(type(obj), cls)
    except Exception:
        return False


def _registry_items(registry: object) -> list[tuple[object, object]] | None:
    """A registry's collectors and their sample names (as registered), in registration order (None: unreadable)."""
    mapping = _fields(registry).get("_collector_to_names")
    if type(mapping) is not dict:
        return None
    lock = _fields(registry).get("_lock")
    real_lock = lock is not None and type(lock).__module__ == "_thread"  # a threading lock, nothing of the module's
    guard: contextlib.AbstractContextManager[Any] = lock if real_lock else contextlib.nullcontext()  # type: ignore[assignment]
    with guard:
        items = list(mapping.items())
    return [(collector, names) for collector, names in items]


@dataclass
class _Found:
    """A collector found in the module, and where."""

    obj: object
    source: str
    raw_names: object = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The collector's sample names as the registry recorded them, sorted and shown safely."""
        raw = self.raw_names
        if not isinstance(raw, (list, tuple, set, frozenset)):
            return ()
        return tuple(sorted(_quote(n) for n in raw))


@dataclass
class _Definition:
    """A prometheus_client metric's definition, read from its fields."""

    family: str
    pc_type: str
    labels: tuple[str, ...]
    help: str | None
    buckets: tuple[float, ...] = ()
    states: tuple[str, ...] = ()
    unit: str = ""
    multiprocess_mode: str | None = None
    info_keys: tuple[str, ...] | None = None
    children: int = 0
    is_child: bool = False
    registered: bool = True
    source: str = ""
    problems: list[str] = field(default_factory=list)


_PC_TYPES: tuple[tuple[type, str], ...] = (
    (Counter, "counter"),
    (Gauge, "gauge"),
    (Histogram, "histogram"),
    (Summary, "summary"),
    (Info, "info"),
    (Enum, "stateset"),
)


def _definition(obj: object, source: str) -> _Definition:
    """Read a metric's name, type, labels, help and buckets from its fields (no method of it is called)."""
    data = _fields(obj)
    pc_type = next((name for cls, name in _PC_TYPES if _is_instance(obj, cls)), "unknown")
    family = _plain_str(data.get("_name")) or ""
    raw_labels = data.get("_labelnames")
    labels: list[str] = []
    problems: list[str] = []
    if isinstance(raw_labels, (tuple, list)):
        for raw in raw_labels:
            label = _plain_str(raw)
            if label is None:
                problems.append("a label name is not a string")
            else:
                labels.append(label)
    else:
        problems.append("its label names cannot be read")
    definition = _Definition(
        family=family,
        pc_type=pc_type,
        labels=tuple(labels),
        help=_plain_str(data.get("_documentation")),
        unit=_plain_str(data.get("_unit")) or "",
        source=source,
        problems=problems,
    )
    labelvalues = data.get("_labelvalues")
    definition.is_child = isinstance(labelvalues, (tuple, list)) and len(labelvalues) > 0
    children = data.get("_metrics")
    if type(children) is dict:
        definition.children = len(children)
    if pc_type == "histogram":
        bounds = data.get("_upper_bounds")
        if isinstance(bounds, list) and bounds and all(type(b) is float for b in bounds):
            definition.buckets = tuple(b for b in bounds if b != math.inf)
        else:
            problems.append("its bucket boundaries cannot be read")
    elif pc_type == "stateset":
        states = data.get("_states")
        if isinstance(states, (list, tuple)):
            definition.states = tuple(_quote(s) for s in states)
    elif pc_type == "gauge":
        mode = _plain_str(data.get("_multiprocess_mode"))
        definition.multiprocess_mode = mode
    elif pc_type == "info":
        definition.info_keys = _info_keys(data)
    return definition


def _info_keys(data: dict[str, Any]) -> tuple[str, ...] | None:
    """The keys ``info({...})`` set during the import (the parent's, or its children's), None if none was set."""
    values: list[object] = []
    own = data.get("_value")
    if type(own) is dict and own:
        values.append(own)
    children = data.get("_metrics")
    if type(children) is dict:
        values.extend(_fields(child).get("_value") for child in children.values())
    keys: dict[str, None] = {}
    for value in values:
        if type(value) is dict:
            for key in value:
                plain = _plain_str(key)
                if plain is not None:
                    keys.setdefault(plain, None)
    return tuple(keys) if keys else None


# ------------------------------------------------------------------------------------------------ importing


@dataclass
class _Loaded:
    module: object
    name: str
    was_imported: bool
    new_default: list[tuple[object, object]]


def _is_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target or os.sep in target or bool(os.altsep and os.altsep in target)


def _dotted_from_path(target: str) -> tuple[str, Path]:
    """The dotted name of a ``.py`` file (or package directory) and the directory to import it from."""
    path = Path(target).expanduser()
    try:
        path = path.resolve()
    except OSError as exc:
        raise ImportFailed(f"cannot read the path {_quote(target)}: {exc.strerror or type(exc).__name__}") from None
    if path.is_dir():
        if not (path / "__init__.py").is_file():
            raise ImportFailed(f"{_quote(target)} is a directory without __init__.py, not a module")
        parts, folder = [path.name], path.parent
    elif path.is_file():
        if path.suffix != ".py":
            raise ImportFailed(f"{_quote(target)} is not a .py file")
        parts = [] if path.name == "__init__.py" else [path.stem]
        folder = path.parent
        if not parts:
            parts, folder = [folder.name], folder.parent
    else:
        raise ImportFailed(f"no such file: {_quote(target)}")
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.append(folder.name)
        folder = folder.parent
    dotted = ".".join(reversed(parts))
    if not all(part.isidentifier() for part in parts):
        raise ImportFailed(f"{_quote(target)} cannot be imported: {_quote(dotted)} is not a dotted module name")
    return dotted, folder


def _describe_exception(exc: BaseException) -> str:
    """``Type: message (at file:line)``, bounded, scrubbed, never raising and never running the module's code.

    A built-in exception holding plain values is shown as ``str()`` shows it; any other shows its first argument
    when that is a string (``str()`` of a user-defined exception, or of a user object in its args, would run it).
    """
    message = "<message not shown>"
    try:
        args = BaseException.__getattribute__(exc, "args")
        if type(exc).__module__ == "builtins" and all(_plain_value(a) for a in args):
            message = str(exc)
        elif args and _plain_str(args[0]) is not None:
            message = _plain_str(args[0]) or ""
        elif not args:
            message = ""
    except Exception:
        pass
    message = Scrubber().scrub_text(_quote(message)) if message else ""
    where = ""
    try:
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            where = f" (at {_quote(os.path.basename(frames[-1].filename))}:{frames[-1].lineno})"
    except Exception:
        pass
    return f"{_type_name(exc)}{': ' + message if message else ''}{where}"


def _plain_value(value: object, depth: int = 0) -> bool:
    """A str, int, float, bool or None, or a short tuple of those (what built-in exceptions hold)."""
    if type(value) in (str, int, float, bool, type(None)):
        return True
    return type(value) is tuple and depth < 3 and len(value) <= 8 and all(_plain_value(v, depth + 1) for v in value)


def _load(target: str) -> _Loaded:
    """Import ``target`` (dotted name or file path); the default registry's new collectors are recorded."""
    if not isinstance(target, str) or not target.strip():
        raise ImportFailed("MODULE is empty; give a dotted module name (package.metrics) or a .py path")
    if _is_path(target):
        dotted, folder = _dotted_from_path(target)
        search = str(folder)
    else:
        dotted = target
        if not all(part.isidentifier() for part in dotted.split(".")):
            raise ImportFailed(
                f"{_quote(target)} is neither a dotted module name (package.metrics) nor a path to a .py file"
            )
        search = os.getcwd()  # as `python -m` does: modules of the current directory import by name
    was_imported = dotted in sys.modules
    if was_imported and _is_path(target):
        loaded_file = _plain_str(_fields(sys.modules[dotted]).get("__file__"))  # it may not be a module any more
        expected = Path(target).expanduser().resolve()
        if loaded_file is None or Path(loaded_file).resolve() not in (expected, expected / "__init__.py"):
            raise ImportFailed(
                f"a different module named {_quote(dotted)} is already imported; rename the file or import it by "
                "its dotted name"
            )
    before = {id(c): c for c, _ in _registry_items(REGISTRY) or ()}
    added = search not in sys.path
    if added:
        sys.path.insert(0, search)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # what the module prints must not end up in the YAML
            module = importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (dotted == missing or dotted.startswith(missing + ".")):
            raise ImportFailed(f"no module named {_quote(missing)} (searched {_quote(search)} and sys.path)") from None
        raise ImportFailed(f"importing {_quote(dotted)} failed: {_describe_exception(exc)}") from None
    except (Exception, SystemExit) as exc:
        raise ImportFailed(f"importing {_quote(dotted)} failed: {_describe_exception(exc)}") from None
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(search)
    new_default = [(c, names) for c, names in _registry_items(REGISTRY) or () if id(c) not in before]
    return _Loaded(module=module, name=dotted, was_imported=was_imported, new_default=new_default)


def _discover(loaded: _Loaded) -> tuple[list[_Found], list[Finding], dict[str, list[int]]]:
    """Every collector of the module: globals, the module's own registries, the default registry's new ones."""
    findings: list[Finding] = []
    namespace = _fields(loaded.module)
    found: list[_Found] = []
    seen: set[int] = set()
    registries: list[tuple[str, object]] = []
    for key, value in list(namespace.items()):
        gname = _plain_str(key) or "?"
        if _is_instance(value, MetricWrapperBase):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(_Found(value, f"global {_quote(gname)}"))
        elif (
            _is_instance(value, CollectorRegistry)
            and value is not REGISTRY
            and all(value is not r for _, r in registries)
        ):
            registries.append((gname, value))
    membership: dict[str, list[int]] = {"the default registry": [id(c) for c, _ in _registry_items(REGISTRY) or ()]}
    for gname, registry in registries:
        items = _registry_items(registry)
        label = f"registry {_quote(gname)}"
        if items is None:
            findings.append(Finding("", "warning", f"{label} cannot be read (not a prometheus_client registry?)"))
            continue
        membership[label] = [id(c) for c, _ in items]
        for collector, names in items:
            if id(collector) not in seen:
                seen.add(id(collector))
                found.append(_Found(collector, label, names))
    for collector, names in loaded.new_default:
        if id(collector) not in seen:
            seen.add(id(collector))
            found.append(_Found(collector, "the default registry (registered during the import)", names))
    if loaded.was_imported:
        findings.append(
            Finding(
                "",
                "note",
                f"{_quote(loaded.name)} was already imported in this process: only its globals and its own "
                "registries were searched",
                in_yaml=False,
            )
        )
    return found, findings, membership


# ------------------------------------------------------------------------------------------------ naming


_SUFFIX_UNITS: dict[str, str] = {word: unit for unit, word in _UNIT_MAPPINGS.items() if word}
_PER_UNITS: dict[str, str] = {word: unit for unit, word in _PER_UNIT_MAPPINGS.items()}


def infer_unit(base: str) -> tuple[str, str]:
    """The UCUM unit a Prometheus base name's suffix says, and that suffix (``x_seconds`` → ``("s", "seconds")``).

    The OTel exporter's unit table read backwards, so the exporter appends exactly the suffix the name has;
    ``x_bytes_per_second`` → ``By/s``. No known suffix (``_ratio``, ``_count``, none): ``("1", "")``.
    """
    words = base.split("_")
    if len(words) >= 4 and words[-2] == "per" and words[-1] in _PER_UNITS and words[-3] in _SUFFIX_UNITS:
        return f"{_SUFFIX_UNITS[words[-3]]}/{_PER_UNITS[words[-1]]}", "_".join(words[-3:])
    if len(words) >= 2 and words[-1] in _SUFFIX_UNITS:
        return _SUFFIX_UNITS[words[-1]], words[-1]
    return "1", ""


def _naming_kind(kind: str) -> str:
    """The kind to derive names with: itself once the catalog knows it (``info`` is being added), else a gauge."""
    return kind if kind in KINDS else "gauge"


def _otel_candidates(name: str, kind: str, suffix: str) -> list[str]:
    """OTel names to try, most idiomatic first: without ``_total``/``_info`` and the unit suffix, then fuller."""
    bases = [name]
    if kind == "counter" and name.endswith("_total"):
        bases.insert(0, name[: -len("_total")])
    if kind == INFO_KIND and name.endswith("_info"):
        bases.insert(0, name[: -len("_info")])
    candidates: list[str] = []
    for base in bases:
        if suffix and base.endswith("_" + suffix) and len(base) > len(suffix) + 1:
            candidates.append(base[: -len(suffix) - 1])
        candidates.append(base)
    dotted = [c.replace("_", ".", 1) for c in candidates if "_" in c.strip("_")]  # sanitised back to the same name
    return list(dict.fromkeys(candidates + dotted))


def choose_otel_name(
    name: str, kind: str, unit: str, suffix: str, used: set[str], reserved: frozenset[str] = frozenset()
) -> str | None:
    """The first candidate OTel name the exporter exposes as ``name`` with ``unit``, or None.

    ``used`` holds the OTel names already taken (case-folded: OTel instrument names are case-insensitive);
    candidates in ``reserved`` (the Prometheus names of the module's other metrics, which may want them as OTel
    names: ``span_seconds`` would take ``span`` from a gauge named ``span``) come after the others.
    """
    naming = _naming_kind(kind)
    candidates = _otel_candidates(name, kind, suffix)
    wanted = [c in reserved and c != name for c in candidates]  # its own name is never another metric's
    ordered = [c for c, w in zip(candidates, wanted, strict=True) if not w]
    ordered += [c for c, w in zip(candidates, wanted, strict=True) if w]
    for candidate in ordered:
        if candidate.casefold() in used or not _OTEL_NAME_RE.match(candidate):
            continue
        if prometheus_name(candidate, unit, naming) == name:
            return candidate
    return None


# ------------------------------------------------------------------------------------------------ promtool lint

# promtool check metrics' rules (prometheus/client_golang testutil/promlint), applied to one family.
_PROMLINT_UNITS: dict[str, str] = {
    **{u: u for u in ("amperes", "bytes", "celsius", "grams", "joules", "kelvin", "meters", "metres", "seconds")},
    "volts": "volts",
    **{u: "seconds" for u in ("minutes", "hours", "days", "weeks")},
    "kelvins": "kelvin",
    "fahrenheit": "celsius",
    "rankine": "celsius",
    **{u: "meters" for u in ("inches", "yards", "miles")},
    "bits": "bytes",
    "calories": "joules",
    "pounds": "grams",
    "ounces": "grams",
}
_PROMLINT_PREFIXES = (
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega", "mibi", "giga",
    "gibi", "tera", "tebi", "peta", "pebi",
)  # fmt: skip
#: Every unit word promtool recognises (a prefix and a unit), and its base unit.
_PROMLINT_TOKENS: dict[str, str] = {
    prefix + unit: base for unit, base in _PROMLINT_UNITS.items() for prefix in ("", *_PROMLINT_PREFIXES)
}
_PROMLINT_ABBREVIATIONS = ("s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d")
_PROMLINT_TYPES = ("counter", "gauge", "summary", "histogram", "gauge_histogram")
_CAMEL = re.compile(r"[a-z][A-Z]")


def promtool_warnings(family: str, prom_type: str, labels: Iterable[str] = ()) -> list[str]:
    """What ``promtool check metrics`` says about a family (text-format name and ``# TYPE``), one line each."""
    problems: list[str] = []
    for token in family.split("_"):
        base = _PROMLINT_TOKENS.get(token)
        if base is not None:
            if token != base:
                problems.append(f'use base unit "{base}" instead of "{token}"')
            break
    if prom_type != "counter" and family.endswith("_total"):
        problems.append('non-counter metrics should not have "_total" suffix')
    if prom_type != "histogram" and family.endswith("_bucket"):
        problems.append('non-histogram metrics should not have "_bucket" suffix')
    for suffix in ("_count", "_sum"):
        if prom_type not in ("histogram", "summary") and family.endswith(suffix):
            problems.append(f'non-histogram and non-summary metrics should not have "{suffix}" suffix')
    labels = tuple(labels)
    if prom_type != "histogram" and "le" in labels:
        problems.append('non-histogram metrics should not have "le" label')
    if prom_type != "summary" and "quantile" in labels:
        problems.append('non-summary metrics should not have "quantile" label')
    lower = family.lower()
    for word in _PROMLINT_TYPES:
        if f"_{word}_" in lower or lower.endswith(f"_{word}"):
            problems.append(f"metric name should not include type '{word}'")
    if ":" in family:
        problems.append("metric names should not contain ':'")
    if _CAMEL.search(family):
        problems.append("metric names should be written in 'snake_case' not 'camelCase'")
    if any(_CAMEL.search(label) for label in labels):
        problems.append("label names should be written in 'snake_case' not 'camelCase'")
    for abbreviation in _PROMLINT_ABBREVIATIONS:
        if f"_{abbreviation}_" in lower or lower.endswith(f"_{abbreviation}"):
            problems.append("metric names should not contain abbreviated units")
    return problems


# ------------------------------------------------------------------------------------------------ mapping


_ATTRIBUTE_FIELDS = frozenset(f.name for f in dataclasses.fields(AttributeSpec))


def _trial_problems(spec_args: dict[str, Any]) -> list[str]:
    """What the catalog validation says about this one metric (its own messages, the metric prefix removed)."""
    kind = spec_args["kind"]
    args = dict(spec_args, kind=as_kind(kind if kind in KINDS else "gauge"))  # info: checked as the gauge it renders
    try:
        spec = MetricSpec(**args)
        Catalog(name="imported", metrics=(spec,))
    except CatalogError as exc:
        prefix = f"{spec_args['name']}: "
        return [p[len(prefix) :] if p.startswith(prefix) else p for p in exc.problems]
    return []


def _same_definition(a: ImportedMetric, b: ImportedMetric) -> bool:
    def key(m: ImportedMetric) -> tuple[object, ...]:
        return (m.kind, m.unit, m.description, m.attributes, m.buckets)

    return key(a) == key(b)


@dataclass
class _Builder:
    """Turns definitions into catalog entries in module order, keeping names and samples unique."""

    summary_buckets: tuple[float, ...] | None
    scrubber: Scrubber = field(default_factory=Scrubber)
    entries: list[ImportedMetric | RefusedMetric] = field(default_factory=list)
    by_name: dict[str, ImportedMetric] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)
    used_otel: set[str] = field(default_factory=set)
    reserved: frozenset[str] = frozenset()
    secret_labels: dict[str, str] = field(default_factory=dict)

    def refuse(self, name: str, what: str, source: str, *messages: str) -> None:
        findings = tuple(Finding(name, "refused", m) for m in messages)
        self.entries.append(RefusedMetric(name=name, what=what, source=source, findings=findings))

    def add(self, d: _Definition) -> None:
        what = {"counter": "Counter", "gauge": "Gauge", "histogram": "Histogram", "summary": "Summary",
                "info": "Info", "stateset": "Enum"}.get(d.pc_type, "metric")  # fmt: skip
        name = _catalog_name(d)
        if not d.family:
            self.refuse("", what, d.source, f"the {what} from {d.source} has no readable name")
            return
        if d.problems:
            self.refuse(name, what, d.source, *(f"{what} {p}" for p in d.problems))
            return
        notes: list[Finding] = []
        kind, buckets = d.pc_type, None
        if d.pc_type == "unknown":
            self.refuse(name, what, d.source, "a MetricWrapperBase subclass of no known prometheus_client type")
            return
        if d.pc_type == "stateset":
            states = ", ".join(d.states[:10]) + (", …" if len(d.states) > 10 else "")
            self.refuse(
                name,
                what,
                d.source,
                f"Enum (an OpenMetrics stateset; states: {states}) has no lukhas-obs kind; declare a gauge with one "
                f"series per state (a label {_quote(d.family)} set to 1 for the current state and 0 for the others, "
                "as prometheus_client renders it), or an info holding the current state",
            )
            return
        if d.pc_type == "summary":
            if self.summary_buckets is None:
                self.refuse(
                    name,
                    what,
                    d.source,
                    "Summary has no lukhas-obs kind (prometheus_client's Python summaries expose only _count and "
                    "_sum, no quantiles); convert it to a histogram with bucket boundaries you choose: "
                    "--summary-buckets 0.005,0.01,0.05,0.1,0.5,1,5",
                )
                return
            kind, buckets = "histogram", self.summary_buckets
            notes.append(
                Finding(
                    name,
                    "warning",
                    "Summary converted to a histogram with --summary-buckets: # TYPE changes from summary to "
                    "histogram and the _bucket series are new; _sum and _count keep their names",
                )
            )
        elif d.pc_type == "histogram":
            buckets = d.buckets
        if d.is_child:
            notes.append(
                Finding(name, "note", "found only as a bound child (.labels(...)); its definition is its parent's")
            )
        description = self._description(name, d.help, notes)
        base = name[: -len("_total")] if kind == "counter" else name
        unit, suffix = infer_unit(base[: -len("_info")] if kind == INFO_KIND else base)
        labels = d.labels
        if kind == INFO_KIND:
            if d.info_keys is None:
                notes.append(
                    Finding(
                        name,
                        "warning",
                        "no info({...}) call ran during the import, so its keys (labels) are unknown; add them "
                        "under attributes:",
                    )
                )
            else:
                labels = labels + tuple(k for k in d.info_keys if k not in labels)
                notes.append(
                    Finding(name, "note", "labels are the keys info({...}) set during the import; values not copied")
                )
        candidate = ImportedMetric(
            name=name,
            otel_name="",
            kind=kind,
            unit=unit,
            description=description,
            attributes=labels,
            buckets=buckets,
            source=d.source,
        )
        earlier = self.by_name.get(name)
        if earlier is not None:
            if _same_definition(earlier, candidate):
                index = self.entries.index(earlier)
                merged = Finding(name, "note", f"defined again, identically, in {d.source}: one catalog entry")
                self.entries[index] = self.by_name[name] = _with(earlier, merged)
            else:
                self.refuse(
                    name,
                    what,
                    d.source,
                    f"name collision: {name} is already imported from {earlier.source} with a different definition; "
                    "one catalog has one definition per name",
                )
            return
        owned = sample_names(name, _naming_kind(kind))
        clash = next((s for s in owned if s in self.samples), None)
        if clash is not None:
            self.refuse(
                name,
                what,
                d.source,
                f"name collision: its sample {clash} is also a sample of {self.samples[clash]} (one exposition "
                "cannot hold both)",
            )
            return
        otel_name = choose_otel_name(name, kind, unit, suffix, self.used_otel, self.reserved)
        if otel_name is None:
            self.refuse(name, what, d.source, f"no OTel instrument name is exposed as {name} (unit {unit!r})")
            return
        spec = dict(
            name=name,
            otel_name=otel_name,
            kind=kind,
            unit=unit,
            description=description,
            attributes=tuple(self._attribute(label) for label in labels),
            buckets=buckets,
        )
        problems = _trial_problems(spec)
        if problems:
            self.refuse(name, what, d.source, *(f"the catalog refuses it: {p}" for p in problems))
            return
        notes.extend(self._differences(name, kind, d, labels, buckets))
        metric = ImportedMetric(
            name=name,
            otel_name=otel_name,
            kind=kind,
            unit=unit,
            description=description,
            attributes=labels,
            buckets=buckets,
            source=d.source,
            findings=tuple(notes),
        )
        self.entries.append(metric)
        self.by_name[name] = metric
        self.used_otel.add(otel_name.casefold())
        for sample in owned:
            self.samples[sample] = name

    def _attribute(self, label: str) -> AttributeSpec:
        """The spec of a label as the catalog will declare it (``secret=False`` where the scrubber objects)."""
        if self.scrubber.key_rule(label) is not None and "secret" in _ATTRIBUTE_FIELDS:
            options: dict[str, Any] = {"secret": False}  # the field is new in the catalog spec
            return AttributeSpec(key=label, **options)
        return AttributeSpec(key=label)

    def _description(self, name: str, help_text: str | None, notes: list[Finding]) -> str:
        """The HELP text as the catalog can hold it (valid text, bounded, not empty); every change is a finding."""
        if help_text is None:
            notes.append(Finding(name, "warning", "its help text is not a string; the description is its name"))
            return name
        text = help_text
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            text = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
            notes.append(Finding(name, "warning", "its help text holds lone surrogates, written as U+FFFD"))
        if len(text) > _MAX_HELP:
            text = text[:_MAX_HELP]
            notes.append(Finding(name, "warning", f"its help text is longer than {_MAX_HELP} characters; cut"))
        if not text.strip():
            notes.append(
                Finding(name, "warning", "its help text is empty; the catalog needs one, its name is written instead")
            )
            return name
        return text

    def _differences(
        self, name: str, kind: str, d: _Definition, labels: tuple[str, ...], buckets: tuple[float, ...] | None
    ) -> Iterator[Finding]:
        """What the port will show differently, and what promtool will say (it says it about both)."""
        prom_type = {"counter": "counter", "histogram": "histogram"}.get(kind, "gauge")
        for problem in promtool_warnings(name, prom_type, labels):
            yield Finding(name, "warning", f"promtool check metrics will warn (before and after the port): {problem}")
        if d.multiprocess_mode not in (None, "all"):
            yield Finding(
                name,
                "warning",
                f"multiprocess_mode={d.multiprocess_mode!r} is not expressible in a catalog (multiprocess "
                "aggregation differs in lukhas-obs)",
            )
        if not d.registered and not d.is_child:
            yield Finding(
                name, "note", "registered in no registry (registry=None): prometheus_client does not serve it"
            )
        if d.children:
            yield Finding(
                name,
                "note",
                f"{d.children} labelled series were created during the import (prometheus_client shows them at 0)",
            )
        spelled = [b for b in buckets or () if floatToGoString(b) != f"{b}"]
        if spelled:
            shown = ", ".join(f'le="{floatToGoString(b)}" (OTel exporter: le="{b}")' for b in spelled[:5])
            yield Finding(
                name,
                "warning",
                f"prometheus_client and the OTel exporter spell these bucket bounds differently: {shown}; each is a "
                "different series to Prometheus",
            )
        if buckets is not None and buckets and buckets[0] <= 0:
            yield Finding(
                name,
                "warning",
                "a bucket boundary is <= 0: lukhas-obs histograms drop negative values (prometheus_client counts them)",
            )
        if d.unit:
            yield Finding(name, "note", f"prometheus_client unit={_quote(d.unit)}; the unit here is read from the name")
        if name.startswith("lukhas_obs_"):
            yield Finding(name, "warning", "the prefix lukhas_obs_ is lukhas-obs' own self-telemetry namespace")
        for label in labels:
            rule = self.secret_labels.get(label) or self.scrubber.key_rule(label)
            if rule is not None:
                self.secret_labels[label] = rule
                yield Finding(name, "note", f"label {label!r} is declared {SECRET_KEY}: false (CONFIRM it)")


def _catalog_name(d: _Definition) -> str:
    """The catalog ``name:`` of a definition: its sample name (``x_total``, ``x_info``), else its family name."""
    return d.family + {"counter": "_total", "info": "_info"}.get(d.pc_type, "")


def _with(metric: ImportedMetric, finding: Finding) -> ImportedMetric:
    return dataclasses.replace(metric, findings=(*metric.findings, finding))


def default_catalog_name(module: str) -> str:
    """A lower_snake_case catalog name from a module's last component (``pkg.LunaMetrics`` → ``lunametrics``)."""
    last = module.rsplit(".", 1)[-1].lower()
    name = re.sub(r"[^a-z0-9_]+", "_", last).strip("_")
    if not name or not name[0].isalpha():
        name = "imported_" + name
    return name[:100]


def import_catalog(
    target: str, *, catalog_name: str | None = None, summary_buckets: Sequence[float] | None = None
) -> ImportResult:
    """Import the prometheus_client module ``target`` (dotted name or ``.py`` path) and map its metrics.

    Raises :class:`ImportFailed` when the module cannot be imported or named, ``ValueError`` for a bad
    ``catalog_name`` or ``summary_buckets``. A module with no metrics gives a result with no entries.
    """
    if catalog_name is not None and not _CATALOG_NAME_RE.match(catalog_name):
        raise ValueError(f"catalog name {_quote(catalog_name)} must be lower_snake_case (a-z, 0-9, _; a letter first)")
    buckets = parse_buckets(summary_buckets) if summary_buckets is not None else None
    loaded = _load(target)
    found, findings, membership = _discover(loaded)
    registered = {i for ids in membership.values() for i in ids}
    definitions: list[_Definition | _Found] = []
    for item in found:
        if _is_instance(item.obj, MetricWrapperBase):
            definition = _definition(item.obj, item.source)
            definition.registered = id(item.obj) in registered
            definitions.append(definition)
        else:
            definitions.append(item)
    parents = {(d.family, d.pc_type) for d in definitions if isinstance(d, _Definition) and not d.is_child}
    builder = _Builder(
        summary_buckets=buckets,
        reserved=frozenset(_catalog_name(d) for d in definitions if isinstance(d, _Definition)),
    )
    for entry in definitions:
        if isinstance(entry, _Found):
            shown = ", ".join(entry.names[:5]) + (", …" if len(entry.names) > 5 else "")
            builder.refuse(
                entry.names[0] if entry.names else "",
                "custom collector",
                entry.source,
                f"custom collector {_type_name(entry.obj)} ({shown or 'no names'}): its values come from code run "
                "at scrape time, which this import never runs; declare its metrics by hand "
                "(an observable_gauge reads a value at collection time)",
            )
            continue
        if entry.is_child and (entry.family, entry.pc_type) in parents:
            continue  # a .labels() child of a metric that is imported itself
        builder.add(entry)
    found_ids = {id(f.obj) for f in found}
    registries = [label for label, ids in membership.items() if found_ids.intersection(ids)]
    if len(registries) > 1:
        findings.append(
            Finding(
                "",
                "warning",
                f"metrics of {len(registries)} registries ({', '.join(registries)}) are merged into one catalog: "
                "one /metrics serves them all",
            )
        )
    for label, rule in builder.secret_labels.items():
        users = [m.name for m in builder.entries if isinstance(m, ImportedMetric) and label in m.attributes]
        findings.append(
            Finding(
                "",
                "warning",
                f"label {label!r} (of {', '.join(users)}) looks like a credential to the scrubber (rule {rule!r}): "
                f"written with {SECRET_KEY}: false; CONFIRM its values never hold a secret, or remove the label",
                in_yaml=False,  # the comment above the label says it
            )
        )
    return ImportResult(
        module=_quote(loaded.name),
        catalog_name=catalog_name or default_catalog_name(loaded.name),
        entries=tuple(builder.entries),
        secret_labels=builder.secret_labels,
        findings=tuple(findings),
    )


def parse_buckets(values: Sequence[float] | str) -> tuple[float, ...]:
    """Bucket boundaries from ``0.005,0.01,0.1`` (or numbers): finite, strictly increasing; a final +Inf is dropped."""
    if isinstance(values, str):
        parts = [p.strip() for p in values.split(",") if p.strip()]
        numbers: list[float] = []
        for part in parts:
            try:
                numbers.append(float(part))
            except ValueError:
                raise ValueError(f"bucket boundary {_quote(part)} is not a number") from None
    else:
        numbers = [float(v) for v in values]
    if numbers and numbers[-1] == math.inf:
        numbers.pop()
    if not numbers:
        raise ValueError("no bucket boundaries given; expected e.g. 0.005,0.01,0.1,1")
    if len(numbers) > MAX_BUCKETS:
        raise ValueError(f"{len(numbers)} bucket boundaries; at most {MAX_BUCKETS}")
    if not all(math.isfinite(n) for n in numbers):
        raise ValueError("bucket boundaries must be finite numbers (a final +Inf is implied)")
    if any(b >= c for b, c in itertools.pairwise(numbers)):
        raise ValueError(f"bucket boundaries must be strictly increasing: {numbers[:20]}")
    return tuple(numbers)


# ------------------------------------------------------------------------------------------------ YAML


def _catalog_accepts(key: str) -> bool:
    """Whether this lukhas-obs' catalog schema has the top-level option ``key``."""
    from lukhas_obs.catalog.schema import CatalogDoc

    return key in CatalogDoc.model_fields


def pending_keys(result: ImportResult | None = None) -> list[str]:
    """The keys written here that this lukhas-obs' catalog schema does not accept yet (those ``result`` uses)."""
    from lukhas_obs.catalog.schema import AttributeDoc, CatalogDoc

    pending = []
    if INFO_KIND not in KINDS and (result is None or any(m.kind == INFO_KIND for m in result.metrics)):
        pending.append(f"kind: {INFO_KIND}")
    if COMMON_LABELS_KEY not in CatalogDoc.model_fields:
        pending.append(f"{COMMON_LABELS_KEY}: []")
    if SECRET_KEY not in AttributeDoc.model_fields and (result is None or result.secret_labels):
        pending.append(f"attribute option {SECRET_KEY}: false")
    return pending


class _Flow(list[Any]):
    """A list written in flow style (``[a, b]``)."""


class _PureDumper(yaml.SafeDumper):
    """PyYAML's pure-Python safe dumper, with flow-style short lists."""


_PureDumper.add_representer(_Flow, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, True))

#: The dumper used: libyaml's emitter when PyYAML has it (5x faster for 10k metrics; the tests check that both write
#: the same bytes), else the pure-Python one.
_Dumper: type = _PureDumper
if getattr(yaml, "CSafeDumper", None) is not None:

    class _CDumper(yaml.CSafeDumper):
        """libyaml's safe emitter, with flow-style short lists."""

    _CDumper.add_representer(_Flow, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, True))
    _Dumper = _CDumper


def _dump(data: object) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)


def _dump_each(items: list[Any] | dict[str, Any]) -> list[list[str]]:
    """Each item's YAML lines, from one emitter run (a sequence's items, or a mapping's entries).

    One run for all items is what keeps 10k metrics fast; an item starts at a line in column 0 (``- `` for a
    sequence, the key for a mapping), since every nested list is written in flow style and continuation lines of a
    long scalar are indented.
    """
    if not items:
        return []
    text = _dump(items)
    chunks: list[list[str]] = []
    for line in text.splitlines():
        starts = line.startswith("- ") if isinstance(items, list) else bool(line) and not line[0].isspace()
        if starts or not chunks:
            chunks.append([])
        chunks[-1].append(line)
    if len(chunks) != len(items):  # pragma: no cover - a shape the split does not know: one run per item
        if isinstance(items, list):
            return [_dump([item]).splitlines() for item in items]
        return [_dump({key: value}).splitlines() for key, value in items.items()]
    return chunks


def _comment(text: str, indent: str = "", hanging: str = "") -> list[str]:
    """``text`` as YAML comment lines: printable (anything else escaped), wrapped, bounded."""
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)[:2000]
    wrapped = textwrap.wrap(shown, width=116 - len(indent), subsequent_indent=hanging, break_on_hyphens=False)
    return [f"{indent}# {line}".rstrip() for line in wrapped or [""]]


def _metric_lines(metric: ImportedMetric, body: list[str]) -> list[str]:
    out: list[str] = []
    for finding in metric.findings:
        out += _comment(f"{finding.severity.upper()}: {finding.message}", "  ", "  ")
    return out + ["  " + line if line else line for line in body]


def _flow(doc: dict[str, Any]) -> dict[str, Any]:
    for key in ("buckets", "attributes"):
        if key in doc:
            doc[key] = _Flow(doc[key])
    return doc


def render_yaml(result: ImportResult) -> str:
    """The catalog YAML of ``result``: a header, the catalog keys, the labels and the metrics, with comments."""
    metrics, refused = result.metrics, result.refused
    lines = _comment(
        f"lukhas-obs catalog imported from the prometheus_client module {result.module} by `lukhas-obs catalog "
        f"import`: {len(metrics)} metrics imported, {len(refused)} not imported."
    )
    lines += _comment("Review every comment marked CONFIRM, WARNING or NOT IMPORTED.")
    pending = pending_keys(result)
    if pending:
        lines += _comment(
            f"Written for the catalog options being added to lukhas-obs ({', '.join(pending)}): until they are, this "
            "file does not load."
        )
    for finding in result.findings:
        if finding.in_yaml:
            lines += _comment(f"{finding.severity.upper()}: {finding.message}", "", "  ")
    doc = result.document()
    lines += _dump({"catalog": doc["catalog"], "title": doc["title"]}).splitlines()
    lines += _comment("prometheus_client metrics have no lane/service labels: none is added; the exposition matches.")
    lines.append(f"{COMMON_LABELS_KEY}: []")
    if START_AT_ZERO_KEY in doc:
        lines += _comment("prometheus_client shows every unlabelled metric at 0 from its definition; so does this.")
        lines += _dump({START_AT_ZERO_KEY: doc[START_AT_ZERO_KEY]}).splitlines()
    if "attributes" in doc:
        lines.append("attributes:")
        for label, body in zip(doc["attributes"], _dump_each(doc["attributes"]), strict=True):
            if label in result.secret_labels:
                lines += _comment(
                    f"CONFIRM: the scrubber reads {label!r} as a credential (rule {result.secret_labels[label]!r}); "
                    f"'{SECRET_KEY}: false' declares it is not, and its values are then exported unscrubbed. "
                    "Confirm they never hold a secret, or remove the label.",
                    "  ",
                )
            lines += ["  " + line for line in body]
    lines.append("metrics:" if metrics else "metrics: []")
    bodies = iter(_dump_each([_flow(m.document()) for m in metrics]))
    for entry in result.entries:
        if isinstance(entry, ImportedMetric):
            lines += _metric_lines(entry, next(bodies))
        else:
            lines += _comment(f"NOT IMPORTED: {entry.name or '?'} ({entry.what} from {entry.source})", "  ")
            for finding in entry.findings:
                lines += _comment(f"- {finding.message}", "  ", "  ")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ command line


def _bucket_argument(text: str) -> tuple[float, ...]:
    try:
        return parse_buckets(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _catalog_name_argument(text: str) -> str:
    if not _CATALOG_NAME_RE.match(text) or len(text) > 100:
        raise argparse.ArgumentTypeError(
            f"{_quote(text)} is not a catalog name; use lower_snake_case (a-z, 0-9, _; a letter first)"
        )
    return text


def _timeout_argument(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{_quote(text)} is not a positive number of seconds")
    return value


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lukhas-obs catalog`` with its ``import``, ``diff`` and ``export-weaver`` subcommands."""
    from lukhas_obs import catalogdiff, weaver

    catalog = sub.add_parser(
        "catalog", help="work with catalogs (import prometheus_client metrics, diff two versions, export for Weaver)"
    )
    commands = catalog.add_subparsers(dest="catalog_command", required=True, metavar="{import,diff,export-weaver}")
    catalogdiff.add_arguments(
        commands.add_parser(
            "diff",
            help="what a catalog change breaks: renamed/removed metrics and labels, and the alerts, recording rules "
            "and dashboard panels that read them",
            description="Compare OLD with NEW (catalog YAML files). Exit 0: nothing breaks; 1: a breaking change "
            "or an affected alert, recording rule or panel; 2: a bad argument or an OLD catalog that does not load.",
        )
    )
    weaver.add_arguments(
        commands.add_parser(
            "export-weaver",
            help="write the catalogs as an OpenTelemetry Weaver registry (semantic-convention YAML)",
            description="Write DIR/registry_manifest.yaml, DIR/attributes.yaml and one DIR/<catalog>.yaml per "
            "catalog (default: every known catalog), for `weaver registry check|resolve|live-check -r DIR`.",
        )
    )
    imp = commands.add_parser(
        "import",
        help="write the catalog YAML of a prometheus_client metrics module",
        description="Import MODULE (a dotted name, or a path to a .py file) and write the catalog YAML of its "
        "prometheus_client metrics. Exit 0: every metric imported; 1: some not imported (said on stderr and in "
        "the YAML), or none found; 2: the module cannot be imported, or a bad argument.",
    )
    imp.add_argument("module", metavar="MODULE", help="package.metrics, or path/to/metrics.py")
    imp.add_argument("--out", "-o", metavar="FILE", default=None, help="write the YAML to FILE (default: stdout)")
    imp.add_argument(
        "--catalog-name", metavar="NAME", type=_catalog_name_argument, default=None,
        help="the catalog's name (default: the module's last component)",
    )  # fmt: skip
    imp.add_argument(
        "--summary-buckets", metavar="B1,B2,...", type=_bucket_argument, default=None,
        help="convert Summary metrics to histograms with these bucket boundaries (else they are refused)",
    )  # fmt: skip
    imp.add_argument(
        "--import-timeout", metavar="SECONDS", type=_timeout_argument, default=60.0,
        help="give up (exit 2) when importing MODULE takes longer (default 60)",
    )  # fmt: skip
    imp.set_defaults(handler=run_import_command)


def _hard_exit(code: int, message: str) -> None:
    """Leave now: the user's import hangs, or left threads running that would keep the process alive."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        os.write(2, (f"lukhas-obs catalog import: {message}\n").encode("utf-8", "replace"))
    os._exit(code)


@contextlib.contextmanager
def _stdout_to_stderr_fd() -> Iterator[None]:
    """File descriptor 1 points at stderr while the module is imported: what it writes below Python (``os.write``,
    child processes) must not end up in the YAML either. Only for the command line, which owns its process."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _write(text: str, out: str | None) -> None:
    data = text.encode("utf-8")
    if out is None or out == "-":
        stream = getattr(sys.stdout, "buffer", None)
        if stream is not None:
            stream.write(data)
            stream.flush()
        else:
            sys.stdout.write(text)
        return
    target = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=".catalog-import-", dir=target.parent if str(target.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def run_import_command(args: argparse.Namespace) -> int:
    """``lukhas-obs catalog import``: findings on stderr, the YAML on stdout or ``--out``; returns the exit code.

    Run as the command line (the main thread of its own process), a hanging import is abandoned after
    ``--import-timeout`` and threads the module left running do not keep the process alive: both leave with
    ``os._exit``. Called from another thread (tests), neither applies.
    """
    err = sys.stderr
    in_main = threading.current_thread() is threading.main_thread()
    timer: threading.Timer | None = None
    if in_main:
        timeout = float(getattr(args, "import_timeout", 60.0) or 60.0)
        timer = threading.Timer(
            timeout, _hard_exit, (2, f"error: importing {_quote(args.module)} took more than {timeout:g} s")
        )
        timer.daemon = True
        timer.start()
    try:
        with _stdout_to_stderr_fd() if in_main else contextlib.nullcontext():
            result = import_catalog(args.module, catalog_name=args.catalog_name, summary_buckets=args.summary_buckets)
    except (ImportFailed, ValueError) as exc:
        print(f"lukhas-obs catalog import: error: {exc}", file=err)
        return 2
    finally:
        if timer is not None:
            timer.cancel()
    for finding in result.all_findings():
        if finding.severity != "note":
            print(f"lukhas-obs catalog import: {finding.line()}", file=err)
    code = 0
    if not result.entries:
        print(
            f"lukhas-obs catalog import: no prometheus_client metrics found in {result.module} (no metric globals, "
            "no registry of its own, nothing added to the default registry by the import); nothing written",
            file=err,
        )
        code = 1
    else:
        try:
            _write(result.to_yaml(), args.out)
        except OSError as exc:
            print(f"lukhas-obs catalog import: error: cannot write {_quote(args.out)}: {exc.strerror}", file=err)
            return 2
        print(
            f"lukhas-obs catalog import: {len(result.metrics)} metrics imported, {len(result.refused)} not imported"
            f" -> {_quote(args.out) if args.out and args.out != '-' else 'stdout'}",
            file=err,
        )
        code = 1 if result.refused else 0
    if in_main:
        main_thread = threading.main_thread()
        lingering = [t for t in threading.enumerate() if t.is_alive() and not t.daemon and t is not main_thread]
        if lingering:
            with contextlib.suppress(Exception):
                err.flush()
            _hard_exit(code, f"note: {_quote(args.module)} left {len(lingering)} thread(s) running; not waiting")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lukhas_obs.migrate.importer import MODULE ...`` (the same as ``lukhas-obs catalog import``)."""
    parser = argparse.ArgumentParser(prog="lukhas-obs")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["catalog", *(argv if argv is not None else sys.argv[1:])])
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses by the tests
    sys.exit(main())
