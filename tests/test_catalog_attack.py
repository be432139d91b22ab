"""Malformed and hostile catalogs (issue 9, break 12): every one is a CatalogError that names the place.

The attacks: wrong types where the old parsers called ``str()``/``tuple()`` on whatever came (``buckets: 5``, a metric
that is a string, ``attributes:`` as a list, ``description: null``, ``buckets: [false, true]``), unknown keys, a
duplicate YAML key (PyYAML keeps the last value silently), YAML bombs (aliases, deep nesting), files that are not
UTF-8, and a property test that mutates the shipped catalog anywhere and asserts that loading raises nothing but
CatalogError.
"""

from __future__ import annotations

import copy
import math
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:
    import jsonschema
except ImportError:  # pragma: no cover - in the test extras
    jsonschema = None

from lukhas_obs.catalog import Catalog, load_catalog
from lukhas_obs.catalog.schema import catalog_json_schema
from lukhas_obs.catalog.yamlfile import MAX_DEPTH, MAX_NODES
from lukhas_obs.errors import CatalogError
from lukhas_obs.systems import system

BASE = """\
catalog: attack
attributes:
  tier: {description: Tier, values: [T1, T2]}
metrics:
  - name: attack_search_seconds
    otel_name: attack.search
    kind: histogram
    unit: s
    buckets: [0.1, 0.2]
    description: Search latency
    attributes: [tier]
"""


def _core_text() -> str:
    return system("lukhas_core").catalogs[0].read_text(encoding="utf-8")


_CORE: dict[str, Any] = yaml.load(_core_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
_CORE["catalog"] = "lukhas_core_attack"


def _core_doc() -> dict[str, Any]:
    return copy.deepcopy(_CORE)


def _problems(path: Path) -> str:
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    return str(err.value)


def _write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_base_document_loads(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, BASE))
    assert catalog.metric("attack_search_seconds").buckets == (0.1, 0.2)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # buckets: 5 was a TypeError (tuple(5))
        (
            "buckets: [0.1, 0.2]",
            "buckets: 5",
            ":9: metrics[0]: buckets must be a bucket_sets name or a list of numbers, got an integer (5)",
        ),
        # booleans are ints to Python: [false, true] was accepted as buckets (0, 1)
        ("buckets: [0.1, 0.2]", "buckets: [false, true]", ":9: metrics[0].buckets[0] must be a number, got a boolean"),
        ("buckets: [0.1, 0.2]", "buckets: [.nan, 1]", "metrics[0].buckets[0] must be a finite number"),
        # description: null became the text "None"
        ("description: Search latency", "description: null", ":10: metrics[0]: description must be a string, got null"),
        ("unit: s", "unit: 1", "metrics[0]: unit must be a string, got an integer (1) (quote it if it is text)"),
        # a typo was silently dropped... now: the key, the place and what is accepted
        ("unit: s", "unti: s", ":8: metrics[0]: unknown key 'unti'; accepted: name, otel_name, kind, unit,"),
        ("  tier: {description", "  tier: {descripton", ":3: attributes.tier: unknown key 'descripton'"),
        ("catalog: attack", "catalog: attack\ncardinality_limts: {}", "the document: unknown key 'cardinality_limts'"),
        ("kind: histogram", "kind: [histogram]", "metrics[0]: kind must be a string, got a list"),
        ("attributes: [tier]", "attributes: [tier, tire]", "attribute 'tire' is not defined under attributes"),
    ],
)
def test_wrong_types_and_unknown_keys_are_placed_errors(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in BASE
    message = _problems(_write(tmp_path, BASE.replace(old, new)))
    assert expected in message
    assert "c.yaml" in message


def test_a_metric_entry_that_is_a_string(tmp_path: Path) -> None:
    # was AttributeError: 'str' object has no attribute 'get'
    message = _problems(_write(tmp_path, BASE.replace("metrics:\n", "metrics:\n  - attack_search_seconds\n")))
    assert "c.yaml:5: metrics[0] must be a mapping with the keys name, otel_name, kind" in message
    assert "got a string ('attack_search_seconds')" in message


def test_attributes_as_a_list(tmp_path: Path) -> None:
    # was AttributeError: 'list' object has no attribute 'items'
    text = BASE.replace("attributes:\n  tier: {description: Tier, values: [T1, T2]}", "attributes: [tier]", 1)
    assert "c.yaml:2: attributes must be a mapping, got a list" in _problems(_write(tmp_path, text))


def test_a_duplicate_key_is_refused_not_silently_replaced(tmp_path: Path) -> None:
    # PyYAML keeps the last value: the metric silently lost its tier label
    text = BASE + "    attributes: []\n"
    message = _problems(_write(tmp_path, text))
    assert "c.yaml:12:" in message and "duplicate key 'attributes' (first defined at line 11)" in message


def test_a_duplicate_bucket_set_name_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("catalog: attack\n", "catalog: attack\nbucket_sets:\n  std: [1.0]\n  std: [2.0]\n")
    assert "duplicate key 'std'" in _problems(_write(tmp_path, text))


def test_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    text = BASE + "spans:\n  - &span {name: a.b, component: c}\n  - {<<: *span, name: a.c}\n"
    catalog = load_catalog(_write(tmp_path, text))
    assert [s.name for s in catalog.spans] == ["a.b", "a.c"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("catalog: !!python/object/apply:os.system [echo hi]\n", "could not determine a constructor"),
        ("catalog: a\n---\ncatalog: b\n", "expected a single document"),
        ("catalog: [unclosed\n", "not valid YAML"),
        ("catalog: a\nmetrics: [{metric_name: a, kind: histogram, buckets: [" + "9" * 5000 + "]}]\n", "not valid YAML"),
        ("", "the document is not a mapping, it is null"),
        ("- a\n- b\n", "the document is not a mapping, it is a list"),
        ("catalog: a\nmetrics: &m [*m]\n", "recursive alias *m"),
        ("catalog: a\n{[1, 2]: x}: 1\n", "not valid YAML"),
    ],
)
def test_yaml_level_problems_are_catalog_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _problems(_write(tmp_path, text))


def test_a_file_that_is_not_utf8_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(BASE.replace("Search latency", "Suche über Zeit").encode("latin-1"))
    assert "latin1.yaml:10: not UTF-8 (byte 0xfc" in _problems(path)
    path.write_bytes(BASE.encode("utf-16"))
    assert "not UTF-8" in _problems(path)


def test_billion_laughs_is_refused_in_bounded_time_and_memory(tmp_path: Path) -> None:
    lines = ["catalog: laughs", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]
    lines.append("metrics: [{metric_name: a_total, kind: counter, description: *l9}]")
    path = _write(tmp_path, "\n".join(lines) + "\n")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = _problems(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 2.0
    assert peak < 20 * 1024 * 1024
    assert f"expands to more than {MAX_NODES} nodes" in message


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    text = BASE.replace("values: [T1, T2]", "values: &tiers [T1, T2]") + (
        "spans:\n  - {name: 'auth_{tier}', component: identity, params: {tier: *tiers}}\n"
    )
    assert load_catalog(_write(tmp_path, text)).span("auth_T2").params == {"tier": ("T1", "T2")}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 200_000])
def test_deep_nesting_is_refused_without_crashing(tmp_path: Path, depth: int) -> None:
    # 100,000 levels crash libyaml's recursive composer (SIGSEGV): run it in a child so a regression cannot kill
    # the test session
    path = _write(tmp_path, "catalog: deep\nmetrics: " + "[" * depth + "]" * depth + "\n")
    script = textwrap.dedent(
        f"""
        from lukhas_obs.catalog import load_catalog
        from lukhas_obs.errors import CatalogError
        try:
            load_catalog({str(path)!r})
        except CatalogError as exc:
            print(exc)
        """
    )
    started = time.perf_counter()
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert child.returncode == 0, child.stderr[-2000:]
    assert f"nesting deeper than {MAX_DEPTH} levels" in child.stdout
    assert time.perf_counter() - started < 10


def test_deep_nesting_in_a_mapping_is_refused_too() -> None:
    doc: Any = "leaf"
    for _ in range(5000):
        doc = [doc]
    with pytest.raises(CatalogError) as err:
        load_catalog({"catalog": "deep", "metrics": doc})
    assert "metrics[0] must be a mapping" in str(err.value)


def test_hostile_span_templates_are_refused_before_expansion(tmp_path: Path) -> None:
    values = "[" + ", ".join(f"v{i}" for i in range(10)) + "]"
    spans = [
        "  - {name: 'a{tier.__class__}', component: c, params: {tier: [x]}}",
        "  - {name: 'b{', component: c}",
        f"  - {{name: 'c{{a}}{{b}}{{c}}{{d}}', component: c, params: {{a: {values}, b: {values}, c: {values}, "
        f"d: {values}}}}}",
        "  - {name: 'd{}{tier}', component: c, params: {tier: [x]}}",
        "  - {name: 'e{tier!r}', component: c, params: {tier: [x]}}",
    ]
    started = time.perf_counter()
    message = _problems(_write(tmp_path, BASE + "spans:\n" + "\n".join(spans) + "\n"))
    assert time.perf_counter() - started < 2.0
    assert "template field {tier.__class__} must be a plain" in message
    assert "span b{: name is not a valid template" in message
    assert "expands to more than 1000 span names" in message
    assert "template field {} must be a plain" in message
    assert "template field {tier!r} must be a plain" in message


def test_huge_dashboard_panels_are_checked_in_bounded_time() -> None:
    doc = _core_doc()
    panels = doc["dashboards"][0]["rows"][0]["panels"]
    panels[0]["grid"].update(h=100_000, y=1)
    panels[1]["grid"].update(h=100_000, y=1)
    started = time.perf_counter()
    with pytest.raises(CatalogError) as err:
        load_catalog(doc)
    assert time.perf_counter() - started < 1.0  # the cell-by-cell overlap walk took seconds (24 cells per row)
    assert "overlaps" in str(err.value)


def test_grid_coordinates_are_bounded() -> None:
    doc = _core_doc()
    doc["dashboards"][0]["rows"][0]["panels"][0]["grid"]["h"] = 10**30
    with pytest.raises(CatalogError) as err:
        load_catalog(doc)
    assert "dashboards[0].rows[0].panels[0].grid: h must be at most 100000, got an integer of 100 bits" in str(
        err.value
    )


def test_a_lone_surrogate_in_text_is_refused() -> None:
    doc = _core_doc()
    doc["metrics"][0]["description"] = "latency \ud800"
    with pytest.raises(CatalogError) as err:
        load_catalog(doc)
    assert "metrics[0]: description must be valid Unicode text (it holds a lone surrogate)" in str(err.value)


def test_a_megabyte_string_is_refused_with_its_size_not_its_text() -> None:
    doc = _core_doc()
    doc["metrics"][0]["description"] = "x" * 1_000_000
    with pytest.raises(CatalogError) as err:
        load_catalog(doc)
    message = str(err.value)
    assert "metrics[0]: description must be at most 4096 characters long, got 1000000" in message
    assert len(message) < 2000


def test_a_huge_integer_is_described_not_printed() -> None:
    doc = _core_doc()
    doc["slos"]["groups"][0]["latency"][0]["threshold"] = 10**5000  # str() of it raises ValueError
    with pytest.raises(CatalogError) as err:
        load_catalog(doc)
    assert "threshold must be a number, got an integer of 16610 bits" in str(err.value)


def test_the_number_of_listed_problems_is_bounded() -> None:
    doc = {"catalog": "many", "metrics": ["x"] * 10_000}
    with pytest.raises(CatalogError) as err:
        load_catalog(doc)
    assert len(err.value.problems) == 101 and err.value.problems[-1] == "... and 9900 more problems"


# ---------------------------------------------------------------------------------------------- property test

HOSTILE = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            False,
            0,
            -1,
            2**64,
            10**5000,
            1.5,
            -0.0,
            math.nan,
            math.inf,
            -math.inf,
            "",
            "0.1",
            "\ud800",
            "x" * 1_000_000,
            "{",
            "a{b.c}",
            [],
            [1, "a", None],
            [[[[]]]],
            {},
            {"zz": 1},
            {1: 2},
        ]
    ),
    st.text(max_size=20),
    st.integers(),
    st.floats(),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for el in path:
        doc = doc[el]
    return doc


@st.composite
def mutated_catalogs(draw: st.DrawFn) -> dict[str, Any]:
    doc = _core_doc()
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent, last = _at(doc, path[:-1]), path[-1]
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "unknown_key"]))
        if action == "delete":
            del parent[last]
        elif action == "unknown_key" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["zz", "descripton", "bucket", "for_", 1]))] = draw(HOSTILE)
        else:
            parent[last] = copy.deepcopy(draw(HOSTILE))
    return doc


def _valid(catalog: Catalog) -> None:
    """A catalog that loaded is usable: names, sample names, views, SLOs and dashboards all read without error."""
    assert catalog.name and isinstance(catalog.name, str)
    for metric in catalog.metrics:
        assert isinstance(metric.name, str) and metric.sample_names
        assert metric.buckets is None or all(isinstance(b, float) and math.isfinite(b) for b in metric.buckets)
    for span in catalog.spans:
        assert span.names()
    catalog.views()
    assert catalog.slos is None or catalog.slos.job is not None
    assert all(d.panels() is not None for d in catalog.dashboards)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_catalogs())
def test_any_mutation_loads_or_raises_catalog_error_only(doc: dict[str, Any]) -> None:
    eager: Catalog | CatalogError
    try:
        eager = load_catalog(copy.deepcopy(doc))
        _valid(eager)
    except CatalogError as exc:
        eager = exc
    # the deferred path (a running service) agrees: it either refuses the same document, or its sections do
    try:
        deferred = load_catalog(copy.deepcopy(doc), defer_sections=True)
        deferred_ok = True
        try:
            _valid(deferred)
        except CatalogError:
            deferred_ok = False
    except CatalogError:
        deferred_ok = False
    assert deferred_ok == isinstance(eager, Catalog)
    if isinstance(eager, Catalog) and jsonschema is not None:  # the published schema never refuses a loadable file
        validator = jsonschema.Draft202012Validator(catalog_json_schema())
        assert [e.message for e in validator.iter_errors(doc)] == []


def _dump(doc: dict[str, Any]) -> str | None:
    try:
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError, UnicodeError):
        return None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_catalogs())
def test_any_mutation_read_from_a_file_loads_or_raises_catalog_error_only(tmp_path_factory, doc) -> None:
    text = _dump(doc)
    if text is None:
        return
    path = tmp_path_factory.mktemp("mut") / "c.yaml"
    try:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    except UnicodeError:
        return
    try:
        _valid(load_catalog(path))
    except CatalogError as exc:
        assert all(p.startswith(str(path)) for p in exc.problems if not p.startswith("... and "))
