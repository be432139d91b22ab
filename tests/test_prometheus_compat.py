"""``lukhas_obs.prometheus_compat``: a prometheus_client metrics module runs with only its import line changed.

The acceptance test runs seed 000's module (Luna, ``tests/data/promclient/luna_consciousness_metrics.py``) twice in a
fresh interpreter (``tests/data/promclient_compat/side_by_side.py``): as written, on prometheus_client, and with its
import line switched to ``lukhas_obs.prometheus_compat``, on one workload with a deterministic clock. The port is
scraped over real HTTP on 127.0.0.1 and compared with the original's ``generate_latest``: same families, kinds, HELP,
label sets, bucket boundaries and values, beyond the differences written down in :data:`DIFFERENCES` (and in
docs/MIGRATION.md). The Luna catalog is ``lukhas-obs catalog import``'s output, checked here to still be.

The other tests define metrics of their own catalog (``pcompat``) in this process: the definition checks and their
refusals, every method, and hostile inputs, each compared with what prometheus_client itself does where it differs.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import json
import logging
import math
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
import yaml
from prometheus_client import CollectorRegistry as RealRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

import lukhas_obs
from lukhas_obs import prometheus_compat as pc
from lukhas_obs.catalog import load_catalog, register
from lukhas_obs.errors import ConfigurationError
from lukhas_obs.prometheus_compat import DefinitionError
from tests.support.hostile import Hostile, RaisingStr

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "promclient_compat"
LUNA_ORIGINAL = ROOT / "tests" / "data" / "promclient" / "luna_consciousness_metrics.py"
LUNA_CATALOG = DATA / "luna_catalog.yaml"
IMPORT_LINE = "from prometheus_client import Gauge, Counter, Histogram, Info"
PORT_LINE = "from lukhas_obs.prometheus_compat import Gauge, Counter, Histogram, Info"

#: What the side-by-side comparison ignores, and why (each also in docs/MIGRATION.md, "Switching the import line").
DIFFERENCES = {
    "_created": "prometheus_client adds a `_created` sample to counters and histograms; the OTel exporter never does",
    "target_info": "lukhas-obs adds a `target_info` family carrying the resource (service, instance, process ...)",
    "# UNIT": "OpenMetrics: lukhas-obs writes `# UNIT` from the catalog's unit (`seconds`, `percent`); "
    "prometheus_client only when the definition passes `unit=`",
    "family order": "families come in another order (Prometheus does not care)",
}


# ------------------------------------------------------------------------------------------------ Luna, end to end


@pytest.fixture(scope="module")
def luna_port(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seed 000's module with only its import line changed."""
    text = LUNA_ORIGINAL.read_text(encoding="utf-8")
    assert text.count(IMPORT_LINE) == 1
    path = tmp_path_factory.mktemp("luna") / "luna_metrics_port.py"
    path.write_text(text.replace(IMPORT_LINE, PORT_LINE), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def side_by_side(luna_port: Path) -> dict[str, Any]:
    """The original and the port on one workload, in a fresh interpreter (its own registries)."""
    proc = subprocess.run(
        [sys.executable, str(DATA / "side_by_side.py"), str(LUNA_ORIGINAL), str(luna_port), str(LUNA_CATALOG)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def test_the_port_differs_from_the_seed_by_its_import_line_only(luna_port: Path) -> None:
    original = LUNA_ORIGINAL.read_text(encoding="utf-8").splitlines()
    port = luna_port.read_text(encoding="utf-8").splitlines()
    changed = [line for line in difflib.ndiff(original, port) if line[:2] in ("- ", "+ ")]
    assert changed == [f"- {IMPORT_LINE}", f"+ {PORT_LINE}"]


def test_the_port_runs_and_serves_every_one_of_its_44_names(side_by_side: dict[str, Any]) -> None:
    names = side_by_side["catalog_names"]
    assert len(names) == len(set(names)) == 44
    served = {s.name for f in parse_text(side_by_side["port_text"]) for s in f.samples}
    missing = [n for n in names if not ({n, n + "_count"} & served)]
    assert missing == []
    # every metric global of the module is a compat object (the module ran its definitions on prometheus_compat)
    assert {"luna_info", "phi_current_value", "track_tool_call", "update_system_metrics"} <= set(
        side_by_side["port_module_names"]
    )


def _comparable(body: str, parse: Any) -> dict[str, tuple[str, str, str, dict[tuple[str, tuple], float]]]:
    """Family name → (type, HELP, unit, samples), without the documented differences (target_info, _created)."""
    out = {}
    for family in parse(body):
        if family.name in ("target_info", "target"):
            continue
        if family.samples and all(s.name.endswith("_created") for s in family.samples):
            continue  # text 0.0.4: prometheus_client writes each _created as a gauge family of its own
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for s in family.samples
            if not s.name.endswith("_created")
        }
        out[family.name] = (family.type, family.documentation, family.unit, samples)
    return out


def test_side_by_side_text_exposition_is_the_same(side_by_side: dict[str, Any]) -> None:
    original = _comparable(side_by_side["original_text"], parse_text)
    port = _comparable(side_by_side["port_text"], parse_text)
    assert len(original) == 44
    assert sorted(original) == sorted(port)
    for name in original:
        assert port[name] == original[name], name
    # the values are the workload's, not zeros: a spot check of each kind
    assert original["luna_phi_harmony_index"][3][("luna_phi_harmony_index", ())] == 1.625
    calls = original["luna_mcp_tool_calls"][3]
    assert calls[("luna_mcp_tool_calls_total", (("status", "error"), ("tool_name", "phi_calculator")))] == 1.0
    phi = original["luna_phi_calculation_duration_seconds"][3]
    buckets = [dict(labels)["le"] for name, labels in phi if name.endswith("_bucket")]
    assert sorted(buckets, key=float) == ["0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1.0", "5.0", "+Inf"]
    # the documented differences are real: the original has _created samples, the port a target_info
    assert "_created" in side_by_side["original_text"] and "_created" not in side_by_side["port_text"]
    assert "target_info{" in side_by_side["port_text"] and "target_info" not in side_by_side["original_text"]


def test_side_by_side_openmetrics_is_the_same_but_for_unit_lines(side_by_side: dict[str, Any]) -> None:
    original = _comparable(side_by_side["original_openmetrics"], parse_openmetrics)
    port = _comparable(side_by_side["port_openmetrics"], parse_openmetrics)
    if "luna_system_info" in port and port["luna_system_info"][0] == "gauge":  # a renderer writing info as a gauge
        kind, help_text, unit, samples = port.pop("luna_system_info")
        port["luna_system"] = ("info", help_text, unit, samples)
    assert sorted(original) == sorted(port)
    units = {}
    for name, (kind, help_text, unit, samples) in original.items():
        assert port[name][:2] == (kind, help_text) and port[name][3] == samples, name
        if port[name][2] != unit:
            units[name] = (unit, port[name][2])
    assert units == {  # DIFFERENCES["# UNIT"]
        "luna_phi_calculation_duration_seconds": ("", "seconds"),
        "luna_insight_generation_duration_seconds": ("", "seconds"),
        "luna_memory_retrieval_duration_seconds": ("", "seconds"),
        "luna_pattern_recognition_duration_seconds": ("", "seconds"),
        "luna_phi_progression_percent": ("", "percent"),
    }
    assert original["luna_system"][0] == "info"


def test_compat_generate_latest_is_what_metrics_serves(side_by_side: dict[str, Any]) -> None:
    assert _comparable(side_by_side["port_generate_latest"], parse_text) == _comparable(
        side_by_side["port_text"], parse_text
    )


def test_the_luna_catalog_is_what_catalog_import_writes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lukhas_obs.cli", "catalog", "import", str(LUNA_ORIGINAL), "--catalog-name", "luna"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert yaml.safe_load(proc.stdout) == yaml.safe_load(LUNA_CATALOG.read_text(encoding="utf-8"))


def test_migration_doc_writes_the_differences_down() -> None:
    text = (ROOT / "docs" / "MIGRATION.md").read_text(encoding="utf-8")
    start, end = "<!-- prometheus_compat: begin -->", "<!-- prometheus_compat: end -->"
    assert text.count(start) == 1 and text.count(end) == 1
    section = text[text.index(start) : text.index(end)]
    for marker in ("_created", "target_info", "# UNIT", "order", "set_function", "REFUSED", "start_http_server"):
        assert marker in section, marker


# ------------------------------------------------------------------------------------------- a catalog of our own

CATALOG = """
catalog: pcompat
common_attributes: []
start_at_zero: true
attributes:
  method: {}
  code: {}
  state: {}
  version: {}
  commit: {}
  http.route: {}
  tier:
    values: [T1, T2]
metrics:
  - {name: pcompat_requests_total, kind: counter, description: Requests., attributes: [method, code]}
  - {name: pcompat_errors_total, kind: counter, description: Errors.}
  - {name: pcompat_routes_total, kind: counter, description: Requests by route., attributes: [http.route]}
  - {name: pcompat_tiers_total, kind: counter, description: Requests by tier., attributes: [tier]}
  - {name: pcompat_temperature, kind: gauge, description: Temperature.}
  - {name: pcompat_inprogress, kind: gauge, description: In progress., attributes: [method]}
  - {name: pcompat_queue_depth, kind: observable_gauge, description: Queue depth., attributes: [state]}
  - {name: pcompat_pool_size, kind: observable_gauge, description: Pool size.}
  - name: pcompat_latency_seconds
    kind: histogram
    unit: s
    description: Latency.
    buckets: [0.1, 0.5, 1]
    attributes: [method]
  - name: pcompat_api_db_query_seconds
    kind: histogram
    unit: s
    description: Database queries.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
  - {name: pcompat_payload_bytes, kind: histogram, unit: By, description: Payloads., buckets: [100, 1000, 10000]}
  - {name: pcompat_build_info, kind: info, description: Build facts., attributes: [version, commit]}
"""

COMMON = """
catalog: pcompat_common
common_attributes: [lane, service]
metrics:
  - {name: pcompat_common_jobs_total, kind: counter, description: Jobs.}
"""


@pytest.fixture(scope="module", autouse=True)
def _catalogs(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("pcompat")
    for name, text in (("pcompat.yaml", CATALOG), ("common.yaml", COMMON)):
        (folder / name).write_text(text, encoding="utf-8")
        register(load_catalog(folder / name))


@pytest.fixture
def telemetry() -> lukhas_obs.Telemetry:
    """lukhas-obs configured without a server (metrics read with render_exposition; conftest shuts it down)."""
    return lukhas_obs.configure(serve_metrics=False, traces_exporter="none")


def _samples() -> dict[tuple[str, tuple], float]:
    body = lukhas_obs.render_exposition()[0].decode("utf-8")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in parse_text(body) for s in f.samples}


def _value(name: str, **labels: str) -> float | None:
    return _samples().get((name, tuple(sorted(labels.items()))))


def _dropped(metric: str, reason: str) -> float:
    """Drops counted for ``metric`` under ``reason`` (as :func:`prometheus_compat._reason` counts it)."""
    reason = pc._reason(reason)
    return sum(
        value
        for (name, labels), value in _samples().items()
        if name == "lukhas_obs_dropped_measurements_total"
        and ("metric", metric) in labels
        and ("reason", reason) in labels
    )


# ----------------------------------------------------------------------------------------------- definitions


def test_counter_name_with_or_without_total_and_composed_names(telemetry: Any) -> None:
    a = pc.Counter("pcompat_errors_total", "Errors.")
    b = pc.Counter("pcompat_errors", "Errors.")
    c = pc.Counter("errors", "Errors.", namespace="pcompat")
    a.inc()
    b.inc(2)
    c.inc(0.5)
    assert _value("pcompat_errors_total") == 3.5  # one series: prometheus_client's three spellings of one counter
    h = pc.Histogram("db_query", "Database queries.", namespace="pcompat", subsystem="api", unit="seconds")
    assert h._name == "pcompat_api_db_query_seconds"  # prometheus_client's composition, default buckets
    h.observe(0.02)
    assert _value("pcompat_api_db_query_seconds_bucket", le="0.025") == 1.0
    assert pc.Histogram("pcompat_api_db_query", "x", unit="seconds")._name == "pcompat_api_db_query_seconds"
    assert str(a) == "counter:pcompat_errors" and repr(a) == "lukhas_obs.prometheus_compat.Counter(pcompat_errors)"


def test_unknown_metric_says_how_to_generate_the_catalog() -> None:
    with pytest.raises(DefinitionError) as caught:
        pc.Counter("pcompat_error", "Errors.")
    err = caught.value
    assert isinstance(err, ValueError) and err.metric == "pcompat_error_total" and err.field == "name"
    assert "lukhas-obs catalog import tests/test_prometheus_compat.py --out" in str(err)  # the defining module
    assert "register_yaml" in str(err) and "pcompat_errors_total" in str(err)  # and the close match


@pytest.mark.parametrize(
    ("define", "field", "catalog_value", "given"),
    [
        (lambda: pc.Counter("pcompat_temperature", "x"), "name", None, "'pcompat_temperature'"),  # → _total
        (lambda: pc.Gauge("pcompat_errors_total", "x"), "kind", "counter", "Gauge"),
        (lambda: pc.Histogram("pcompat_temperature", "x"), "kind", "gauge", "Histogram"),
        (lambda: pc.Info("pcompat_build", "x"), None, None, None),  # the control: it agrees
        (lambda: pc.Gauge("pcompat_build_info", "x"), "kind", "info", "Gauge"),
        (lambda: pc.Summary("pcompat_temperature", "x"), "kind", "gauge", "Summary"),
        (
            lambda: pc.Counter("pcompat_requests_total", "x", ["method"]),
            "labelnames",
            "['code', 'method']",
            "['method']",
        ),
        (
            lambda: pc.Counter("pcompat_requests_total", "x", ["method", "code", "extra"]),
            "labelnames",
            "['code', 'method']",
            "['method', 'code', 'extra']",
        ),
        (
            lambda: pc.Counter("pcompat_requests_total", "x", ["method", "method"]),
            "labelnames",
            "['code', 'method']",
            "['method', 'method']",
        ),
        (lambda: pc.Counter("pcompat_errors_total", "x", ["code"]), "labelnames", "[]", "['code']"),
        (
            lambda: pc.Histogram("pcompat_latency_seconds", "x", ["method"], buckets=[0.1, 0.5, 2]),
            "buckets",
            "[0.1, 0.5, 1.0]",
            "[0.1, 0.5, 2.0]",
        ),
        (
            lambda: pc.Histogram("pcompat_latency_seconds", "x", ["method"]),  # prometheus_client's default buckets
            "buckets",
            "[0.1, 0.5, 1.0]",
            "[0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]",
        ),
        (lambda: pc.Histogram("pcompat_latency", "x", ["method"], unit="ms"), "name", None, "'pcompat_latency'"),
        (lambda: pc.Info("pcompat_build", "x", unit="seconds"), "unit", None, "'seconds'"),
        (lambda: pc.Info("pcompat_build", "x", ["version"]), "labelnames", None, "['version']"),
        (lambda: pc.Enum("pcompat_state", "x", states=["a", "b"]), "kind", None, "Enum"),
        (lambda: pc.Histogram("pcompat_latency_seconds", "x", ["le"]), "labelnames", None, "'le'"),
        (lambda: pc.Summary("pcompat_payload_bytes", "x", ["quantile"]), "labelnames", None, "'quantile'"),
        (lambda: pc.Counter("pcompat_requests_total", "x", "method"), "labelnames", None, "'method'"),
        (lambda: pc.Counter("pcompat_requests_total", "x", [Hostile()]), "labelnames", None, "<Hostile>"),
        (lambda: pc.Histogram("pcompat_payload_bytes", "x", buckets=[1000, 100]), "buckets", None, "[1000.0, 100.0]"),
        (lambda: pc.Histogram("pcompat_payload_bytes", "x", buckets=["a"]), "buckets", None, "['a']"),
        (lambda: pc.Gauge("pcompat_temperature", "x", multiprocess_mode="bogus"), "multiprocess_mode", None, "'bogus'"),
        (lambda: pc.Counter(Hostile(), "x"), "name", None, "<Hostile>"),
    ],
)
def test_a_definition_that_disagrees_with_the_catalog_is_refused(define, field, catalog_value, given) -> None:
    if field is None:
        define()
        return
    with pytest.raises(DefinitionError) as caught:
        define()
    err = caught.value
    assert (err.field, err.catalog_value, err.given) == (field, catalog_value, given)
    message = str(err)
    assert message.startswith("prometheus_compat: ")
    if field == "kind" and catalog_value is not None:
        assert err.metric in message and "catalog 'pcompat'" in message
        assert f"the catalog declares {catalog_value!r}, a {given} needs" in message
    elif catalog_value is not None:
        assert err.metric in message and "catalog 'pcompat'" in message  # the metric and its catalog
        assert f"the catalog has {catalog_value}" in message and f"the definition gives {given}" in message


def test_summary_maps_to_a_catalog_histogram(telemetry: Any) -> None:
    s = pc.Summary("pcompat_payload_bytes", "Payloads.")
    s.observe(500)
    with s.time():
        pass
    assert _value("pcompat_payload_bytes_count") == 2.0
    assert _value("pcompat_payload_bytes_bucket", le="1000.0") == 2.0
    assert s.describe()[0].type == "histogram"


def test_a_differing_help_text_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lukhas_obs"):
        pc.Gauge("pcompat_temperature", "Another text")
        pc.Gauge("pcompat_temperature", "Another text")
    warned = [r for r in caplog.records if "documentation differs" in r.getMessage()]
    assert len(warned) == 1 and "pcompat_temperature" in warned[0].getMessage()


def test_a_catalog_with_common_labels_adds_them(telemetry: Any) -> None:
    pc.Counter("pcompat_common_jobs", "Jobs.").inc()
    ((key, value),) = [(k, v) for k, v in _samples().items() if k[0] == "pcompat_common_jobs_total"]
    assert value == 1.0 and {label for label, _ in key[1]} == {"lane", "service"}


# -------------------------------------------------------------------------------------------------- methods


def test_counter_children_by_position_and_by_name(telemetry: Any) -> None:
    c = pc.Counter("pcompat_requests_total", "Requests.", ["method", "code"])
    c.labels("get", 200).inc()
    c.labels(code="200", method="get").inc(2)  # str(200) == "200": the same child, as prometheus_client
    assert c.labels("get", "200") is c.labels(method="get", code=200)
    c.labels("post", "500")  # a child exists at 0 before its first inc, as in prometheus_client
    assert _value("pcompat_requests_total", method="get", code="200") == 3.0
    assert _value("pcompat_requests_total", method="post", code="500") == 0.0
    routes = pc.Counter("pcompat_routes", "Requests by route.", ["http_route"])  # attribute key http.route
    routes.labels("/a").inc()
    assert _value("pcompat_routes_total", http_route="/a") == 1.0


def test_unlabelled_metrics_are_present_at_zero_from_definition(telemetry: Any) -> None:
    pc.Counter("pcompat_errors", "Errors.")
    pc.Gauge("pcompat_temperature", "Temperature.")
    pc.Histogram("pcompat_payload_bytes", "Payloads.", buckets=[100, 1000, 10000])
    assert _value("pcompat_errors_total") == 0.0
    assert _value("pcompat_temperature") == 0.0
    assert _value("pcompat_payload_bytes_count") == 0.0  # start_at_zero in the catalog (the importer writes it)


def test_gauge_set_inc_dec_and_conversions(telemetry: Any) -> None:
    g = pc.Gauge("pcompat_temperature", "Temperature.")
    g.set(10)
    g.inc()
    g.inc(2.5)
    g.dec(0.5)
    assert _value("pcompat_temperature") == 13.0
    g.set("4.25")  # float() of a string, as prometheus_client
    assert _value("pcompat_temperature") == 4.25
    g.set(True)
    assert _value("pcompat_temperature") == 1.0
    g.set(10**30)  # float(), as prometheus_client (an int past int64 would otherwise be dropped)
    assert _value("pcompat_temperature") == 1e30
    g.set_to_current_time()
    import time

    assert abs(_value("pcompat_temperature") - time.time()) < 60


def test_timer_context_manager_decorator_sync_and_async(telemetry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter([0.0, 0.2, 0.0, 0.7, 0.0, 0.05, 5.0, 4.0, 0.0, 0.3, 0.0, 0.1])
    monkeypatch.setattr(pc, "_clock", lambda: next(ticks))
    h = pc.Histogram("pcompat_latency_seconds", "Latency.", ["method"], buckets=[0.1, 0.5, 1])
    with h.labels("get").time() as timer:
        pass
    assert timer.duration == 0.2

    @h.labels("get").time()
    def work(x: int) -> int:
        return x + 1

    @h.labels("async").time()
    async def awork(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    assert work(1) == 2 and inspect.signature(work).parameters.keys() == {"x"}
    assert inspect.iscoroutinefunction(awork) and asyncio.run(awork(3)) == 6
    with h.labels("back").time():  # a clock going backwards records 0, as prometheus_client
        pass

    async def with_async_with() -> None:
        async with h.labels("get").time():
            pass

    asyncio.run(with_async_with())
    assert _value("pcompat_latency_seconds_count", method="get") == 3.0
    assert _value("pcompat_latency_seconds_sum", method="get") == pytest.approx(1.2)
    assert _value("pcompat_latency_seconds_bucket", method="async", le="0.1") == 1.0
    assert _value("pcompat_latency_seconds_sum", method="back") == 0.0
    timer = h.time()
    with timer:  # Timer.labels inside the block picks the child, as in prometheus_client
        timer.labels("late")
    assert _value("pcompat_latency_seconds_count", method="late") == 1.0


def test_gauge_time_sets_the_duration(telemetry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter([1.0, 3.5])
    monkeypatch.setattr(pc, "_clock", lambda: next(ticks))
    g = pc.Gauge("pcompat_temperature", "Temperature.")
    with g.time():
        pass
    assert _value("pcompat_temperature") == 2.5


def test_timer_reraises_and_records(telemetry: Any) -> None:
    h = pc.Histogram("pcompat_payload_bytes", "Payloads.", buckets=[100, 1000, 10000])

    @h.time()
    def fails() -> None:
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        fails()
    assert _value("pcompat_payload_bytes_count") == 1.0


def test_count_exceptions_context_manager_and_decorators(telemetry: Any) -> None:
    c = pc.Counter("pcompat_errors", "Errors.")
    with pytest.raises(ValueError), c.count_exceptions():
        raise ValueError
    with pytest.raises(KeyError), c.count_exceptions(ValueError):  # another type: not counted
        raise KeyError
    with c.count_exceptions():  # no exception: not counted
        pass

    @c.count_exceptions((KeyError, ValueError))
    def sync(fail: bool) -> str:
        if fail:
            raise KeyError
        return "ok"

    @c.count_exceptions()
    async def coro() -> None:
        await asyncio.sleep(0)
        raise RuntimeError

    assert sync(False) == "ok"
    with pytest.raises(KeyError):
        sync(True)
    with pytest.raises(RuntimeError):
        asyncio.run(coro())
    assert _value("pcompat_errors_total") == 3.0
    with pytest.raises(TypeError, match="exception class"):
        c.count_exceptions("ValueError")  # type: ignore[arg-type]
    parent = pc.Counter("pcompat_requests_total", "Requests.", ["method", "code"])
    with pytest.raises(DefinitionError, match="needs label values"):
        parent.count_exceptions()


def test_track_inprogress_sync_and_async(telemetry: Any) -> None:
    g = pc.Gauge("pcompat_inprogress", "In progress.", ["method"])
    seen: list[float | None] = []

    @g.labels("get").track_inprogress()
    def work() -> None:
        seen.append(_value("pcompat_inprogress", method="get"))

    @g.labels("get").track_inprogress()
    async def awork() -> None:
        await asyncio.sleep(0)
        seen.append(_value("pcompat_inprogress", method="get"))

    with g.labels("get").track_inprogress():
        work()
        asyncio.run(awork())
    assert seen == [2.0, 2.0] and _value("pcompat_inprogress", method="get") == 0.0


def test_set_function_reads_at_collection_time(telemetry: Any) -> None:
    depth = {"value": 3}
    queue = pc.Gauge("pcompat_queue_depth", "Queue depth.", ["state"])
    queue.labels("waiting").set_function(lambda: depth["value"])
    queue.labels("broken").set_function(lambda: 1 / 0)  # one failing function drops its series, not the scrape
    pool = pc.Gauge("pcompat_pool_size", "Pool size.")
    pool.set_function(lambda: 8)
    assert _value("pcompat_queue_depth", state="waiting") == 3.0
    depth["value"] = 5
    assert _value("pcompat_queue_depth", state="waiting") == 5.0 and _value("pcompat_pool_size") == 8.0
    assert _value("pcompat_queue_depth", state="broken") is None
    assert _dropped("pcompat_queue_depth", "set_function_error") >= 1
    pool.set(100)  # after set_function the other methods do nothing (prometheus_client: no-ops)
    assert _value("pcompat_pool_size") == 8.0
    pool.set_function(lambda: 9)  # a second call replaces the function
    assert _value("pcompat_pool_size") == 9.0
    with pytest.raises(DefinitionError) as caught:
        pc.Gauge("pcompat_temperature", "Temperature.").set_function(lambda: 1)
    assert caught.value.field == "kind" and "observable_gauge" in str(caught.value)
    with pytest.raises(DefinitionError, match="needs label values"):
        queue.set_function(lambda: 1)


def test_info_replaces_the_facts(telemetry: Any) -> None:
    build = pc.Info("pcompat_build", "Build facts.")
    assert _value("pcompat_build_info") == 1.0  # an Info never set: one series without labels, as prometheus_client
    build.info({"version": "1.2", "commit": "abc"})
    assert _value("pcompat_build_info", version="1.2", commit="abc") == 1.0
    build.info({"version": 3, "commit": "def"})  # str()-ed (prometheus_client would fail every scrape)
    facts = [k for k in _samples() if k[0] == "pcompat_build_info"]
    assert facts == [("pcompat_build_info", (("commit", "def"), ("version", "3")))]
    build.info({"version": None, "commit": "x"})  # dropped whole (prometheus_client raises), the facts stay
    build.info({"version": Hostile(), "commit": "x"})
    build.info(Hostile())  # type: ignore[arg-type]
    assert [k for k in _samples() if k[0] == "pcompat_build_info"] == facts
    assert _dropped("pcompat_build_info", "invalid_info_value") == 3


def test_remove_clear_and_reset_cannot_delete_series(telemetry: Any) -> None:
    c = pc.Counter("pcompat_requests_total", "Requests.", ["method", "code"])
    c.labels("get", "200").inc(4)
    c.remove("get", "200")
    c.remove_by_labels({"method": "get"})
    c.clear()
    c.labels("get", "200").inc()  # the series was never deleted: it continues
    assert _value("pcompat_requests_total", method="get", code="200") == 5.0
    assert _dropped("pcompat_requests_total", "remove_unsupported") >= 2
    before = _dropped("pcompat_requests_total", "reset_unsupported")
    c.labels("get", "200").reset()
    assert _value("pcompat_requests_total", method="get", code="200") == 5.0
    assert _dropped("pcompat_requests_total", "reset_unsupported") == before + 1


def test_describe_collect_and_the_registry(telemetry: Any) -> None:
    c = pc.Counter("pcompat_requests_total", "Requests.", ["method", "code"])
    c.labels("get", "200").inc(2)
    c.labels("put", "201").inc()
    (described,) = c.describe()
    assert (described.name, described.type, described.documentation) == ("pcompat_requests", "counter", "Requests.")
    (family,) = c.collect()
    assert family.name == "pcompat_requests" and len(family.samples) == 2
    (mine,) = c.labels("get", "200").collect()
    assert [s.value for s in mine.samples] == [2.0]
    for registry in (pc.REGISTRY, pc.CollectorRegistry()):
        assert registry.get_sample_value("pcompat_requests_total", {"method": "put", "code": "201"}) == 1.0
        assert registry.get_sample_value("pcompat_requests_total", {"method": "nope", "code": "201"}) is None
    pc.REGISTRY.register(c)  # compat metrics and the default collectors: accepted, nothing to do
    pc.REGISTRY.unregister(pc.PROCESS_COLLECTOR)
    with pytest.raises(DefinitionError, match="custom collector"):
        pc.REGISTRY.register(RealRegistry())
    with pytest.raises(DefinitionError, match="resource_attributes"):
        pc.CollectorRegistry(target_info={"a": "b"})
    other = pc.Counter("pcompat_errors", "Errors.", registry=pc.CollectorRegistry())  # accepted and ignored
    other.inc()
    assert pc.REGISTRY.get_sample_value("pcompat_errors_total") == 1.0
    served = [line for line in pc.generate_latest(RealRegistry()).decode().splitlines() if "pcompat_errors" in line]
    assert served == ["# HELP pcompat_errors_total Errors.", "# TYPE pcompat_errors_total counter",
                      "pcompat_errors_total 1.0"]  # fmt: skip
    assert pc.CONTENT_TYPE_LATEST == lukhas_obs.TEXT_CONTENT_TYPE == prometheus_client.CONTENT_TYPE_PLAIN_0_0_4


def test_start_http_server_configures_lukhas_obs_on_loopback() -> None:
    telemetry = pc.start_http_server(0, addr="127.0.0.1")
    try:
        pc.Counter("pcompat_errors", "Errors.").inc()
        assert telemetry.metrics_url is not None and telemetry.metrics_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(telemetry.metrics_url, timeout=5) as response:
            assert "pcompat_errors_total 1.0" in response.read().decode()
        assert pc.start_http_server(0, addr="127.0.0.1") is telemetry  # the same server: nothing to do
        with pytest.raises(ConfigurationError, match="already configured"):
            pc.start_http_server(9)
        with pytest.raises(ConfigurationError, match="client certificates"):
            pc.start_http_server(0, client_cafile="ca.pem")
        assert callable(pc.make_wsgi_app()) and callable(pc.make_asgi_app())
    finally:
        telemetry.shutdown(timeout=5)


def test_start_http_server_without_addr_stays_on_loopback() -> None:
    """prometheus_client listens on 0.0.0.0 by default; the compat default is lukhas-obs' host, 127.0.0.1."""
    assert inspect.signature(prometheus_client.start_http_server).parameters["addr"].default == "0.0.0.0"
    telemetry = pc.start_http_server(0)
    try:
        assert telemetry.settings.prometheus_host == "127.0.0.1"
        assert telemetry.metrics_url is not None and telemetry.metrics_url.startswith("http://127.0.0.1:")
    finally:
        telemetry.shutdown(timeout=5)


def test_every_prometheus_client_name_is_offered_or_refused() -> None:
    offered = [n for n in prometheus_client.__all__ if n not in pc.REFUSED_NAMES]
    assert [n for n in offered if not hasattr(pc, n)] == []
    for name in pc.REFUSED_NAMES:
        with pytest.raises(ImportError, match=f"does not offer {name}: "):
            exec(f"from lukhas_obs.prometheus_compat import {name}", {})
    assert not hasattr(pc, "no_such_name")
    pc.disable_created_metrics()
    pc.enable_created_metrics()


# ----------------------------------------------------------------------------------- never raises, hostile input


def test_misuse_that_prometheus_client_raises_on_is_dropped_and_counted(telemetry: Any) -> None:
    real = prometheus_client.Counter("pcompat_requests", "x", ["method", "code"], registry=RealRegistry())
    compat = pc.Counter("pcompat_requests_total", "Requests.", ["method", "code"])
    misuses = [
        ("missing_label_values", lambda m: m.inc()),
        ("incorrect_labels", lambda m: m.labels("get").inc()),
        ("incorrect_labels", lambda m: m.labels(method="get").inc()),
        ("incorrect_labels", lambda m: m.labels("get", code="1").inc()),
        ("labels_on_child", lambda m: m.labels("get", "1").labels("a", "b").inc()),
        ("negative_increment", lambda m: m.labels("get", "1").inc(-1)),
    ]
    for reason, misuse in misuses:
        with pytest.raises(ValueError):
            misuse(real)
        misuse(compat)  # never raises
        assert _dropped("pcompat_requests_total", reason) >= 1, reason
    assert _value("pcompat_requests_total", method="get", code="1") == 0.0
    unlabelled = pc.Counter("pcompat_errors", "Errors.")
    unlabelled.labels("x").inc()
    assert _dropped("pcompat_errors_total", "labels_without_labelnames") == 1
    g = pc.Gauge("pcompat_temperature", "Temperature.")
    for bad in (float("nan"), float("inf"), "abc", Hostile(), None, [1]):
        g.set(bad)  # type: ignore[arg-type]
        g.inc(bad)  # type: ignore[arg-type]
    assert _value("pcompat_temperature") == 0.0


def test_hostile_label_values(telemetry: Any) -> None:
    real = prometheus_client.Counter("pcompat_requests", "x", ["method", "code"], registry=(registry := RealRegistry()))
    c = pc.Counter("pcompat_requests_total", "Requests.", ["method", "code"])
    # a lone surrogate: prometheus_client keeps it, and then every scrape of its registry fails to encode
    real.labels("get\ud800", "1").inc()
    with pytest.raises(UnicodeEncodeError):
        prometheus_client.generate_latest(registry)
    c.labels("get\ud800", "1").inc()
    assert _value("pcompat_requests_total", method="get\ufffd", code="1") == 1.0
    # an int too large for str(): prometheus_client raises from labels(); compat drops and counts
    with pytest.raises(ValueError):
        real.labels(10**5000, "1")
    c.labels(10**5000, "1").inc()
    assert _dropped("pcompat_requests_total", "invalid_label_value") == 1
    # an object whose __str__ raises: the same
    with pytest.raises(RuntimeError):
        real.labels(Hostile(), "1")
    c.labels(Hostile(), "1").inc()
    assert _dropped("pcompat_requests_total", "invalid_label_value") == 2
    # a str subclass whose dunders raise: prometheus_client calls its __str__ (raises); compat takes its characters
    with pytest.raises(RuntimeError):
        real.labels(RaisingStr("put"), "1")
    c.labels(RaisingStr("put"), "1").inc()
    c.labels(method=RaisingStr("put"), code="1").inc()
    assert _value("pcompat_requests_total", method="put", code="1") == 2.0
    # a huge int that str() can write: one long label value, cut to 256 characters
    c.labels(10**400, "1").inc()
    methods = [dict(k[1])["method"] for k in _samples() if k[0] == "pcompat_requests_total"]
    assert ("1" + "0" * 400)[:256] in methods and max(map(len, methods)) == 256
    # secret-shaped text in a free-form label is scrubbed on the way in (prometheus_client exports it as given)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
    c.labels(jwt, "1").inc()
    assert jwt not in lukhas_obs.render_exposition()[0].decode()
    # an enumerated label folds unknown values to other, as the catalog says
    t = pc.Counter("pcompat_tiers", "Requests by tier.", ["tier"])
    t.labels("T9").inc()
    assert _value("pcompat_tiers_total", tier="other") == 1.0


def test_hostile_amounts_are_dropped_and_huge_ints_converted(telemetry: Any) -> None:
    h = pc.Histogram("pcompat_payload_bytes", "Payloads.", buckets=[100, 1000, 10000])
    for bad in (Hostile(), "x", -1, float("nan"), 10**400):
        h.observe(bad)  # type: ignore[arg-type]
    h.observe(2**70)  # float(2**70), as prometheus_client
    assert _value("pcompat_payload_bytes_count") == 1.0 and _value("pcompat_payload_bytes_sum") == float(2**70)


def test_children_are_bounded(telemetry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pc, "MAX_CHILDREN", 5)
    c = pc.Counter("pcompat_routes", "Requests by route.", ["http_route"])
    for i in range(50):
        c.labels(f"/r{i}").inc()
    assert len(c._children) == 5
    assert _value("pcompat_routes_total", http_route="/r49") == 1.0  # recorded all the same (uncached child)
    c.labels("/r0").inc()
    assert _value("pcompat_routes_total", http_route="/r0") == 2.0


def test_recorded_before_configure_is_kept() -> None:
    """An Info set and a counter incremented at import, before configure() (Luna does it) — in a fresh process,
    since the measurements kept before the first configure are replayed once per process."""
    code = textwrap.dedent(
        f"""
        import lukhas_obs
        from lukhas_obs import prometheus_compat as pc
        lukhas_obs.register_yaml({str(LUNA_CATALOG)!r})
        info = pc.Info("luna_system", "Luna Consciousness System Information")
        info.info({{"version": "0.2", "state": "dormant"}})
        pc.Counter("luna_emotional_analyses_total", "Total number of emotional state analyses performed").inc(3)
        lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
        print(pc.generate_latest().decode())
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'luna_system_info{state="dormant",version="0.2"} 1.0' in proc.stdout
    assert "luna_emotional_analyses_total 3.0" in proc.stdout


def test_recording_cost_is_of_the_order_of_prometheus_client(telemetry: Any) -> None:
    """Not a benchmark: a guard that the compat layer adds no order of magnitude (medians of a few thousand calls)."""
    import timeit

    real = prometheus_client.Counter("pcompat_requests", "x", ["method", "code"], registry=RealRegistry())
    compat = pc.Counter("pcompat_requests_total", "Requests.", ["method", "code"])
    real_child, compat_child = real.labels("get", "200"), compat.labels("get", "200")
    compat_child.inc()
    runs = {
        "labels+inc": (lambda: real.labels("get", "200").inc(), lambda: compat.labels("get", "200").inc()),
        "child inc": (real_child.inc, compat_child.inc),
    }
    for name, (theirs, ours) in runs.items():
        t_real = min(timeit.repeat(theirs, number=2000, repeat=5))
        t_ours = min(timeit.repeat(ours, number=2000, repeat=5))
        assert t_ours < 10 * t_real + 0.002, (name, t_ours, t_real)
    assert math.isfinite(t_ours)


def test_huge_label_values_do_not_grow_the_children_cache(telemetry: Any) -> None:
    """prometheus_client keeps each child's label values whole; compat keeps what lukhas-obs records (256 chars)."""
    c = pc.Counter("pcompat_routes", "Requests by route.", ["http_route"])
    for i in range(20):
        c.labels(str(i) + "x" * 1_000_000).inc()
    assert sum(len(key[0]) for key in c._children) <= 20 * 256
    c.labels("1" + "x" * 2_000_000).inc()  # the same first 256 characters: the same series, as lukhas-obs records it
    assert _value("pcompat_routes_total", http_route=("1" + "x" * 300)[:256]) == 2.0


def test_children_from_threads_lose_nothing(telemetry: Any) -> None:
    import threading

    c = pc.Counter("pcompat_requests_total", "Requests.", ["method", "code"])
    g = pc.Gauge("pcompat_inprogress", "In progress.", ["method"])

    def work(n: int) -> None:
        for i in range(1500):
            c.labels("get", str(i % 3)).inc()
            g.labels("get").inc(2)
            g.labels(method="get").dec()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(_value("pcompat_requests_total", method="get", code=str(k)) for k in range(3)) == 6000.0
    assert _value("pcompat_inprogress", method="get") == 6000.0
    assert len(c._children) == 3


def test_pforge_module_switched_passes_the_seeds_own_check(tmp_path: Path) -> None:
    """Seed 002's metrics module with its import line switched, on the catalog ``catalog import`` writes for it:
    after ``PFORGE_EFFICIENCY.set(1.23)`` the exposition holds the line ``pforge_efficiency 1.23`` (the seed's test)."""
    original = ROOT / "tests" / "data" / "promclient" / "pforge_metrics_collector.py"
    catalog = tmp_path / "pforge.yaml"
    imported = subprocess.run(
        [sys.executable, "-m", "lukhas_obs.cli", "catalog", "import", str(original), "--catalog-name", "pforge_port",
         "--out", str(catalog)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr[-2000:]
    port = tmp_path / "pforge_port.py"
    text = original.read_text(encoding="utf-8")
    port.write_text(text.replace("from prometheus_client import", "from lukhas_obs.prometheus_compat import", 1))
    code = textwrap.dedent(
        f"""
        import importlib.util, lukhas_obs
        from lukhas_obs import prometheus_compat as pc
        lukhas_obs.register_yaml({str(catalog)!r})
        spec = importlib.util.spec_from_file_location("pforge_port", {str(port)!r})
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
        mod.PFORGE_EFFICIENCY.set(1.23)
        mod.PFORGE_AGENTS_ACTIVE.labels(agent_type="solver").inc()
        mod.PFORGE_TOKENS_USED_TOTAL.labels("openai").inc(120)
        print(pc.generate_latest().decode())
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert "pforge_efficiency 1.23" in lines and "pforge_entropy 0.0" in lines
    assert 'pforge_agents_active{agent_type="solver"} 1.0' in lines
    assert 'pforge_tokens_used_total{vendor="openai"} 120.0' in lines
